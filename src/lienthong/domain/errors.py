"""The one catalogue of error codes (danh mục mã lỗi), with messages in Vietnamese and English.

Every refusal the system makes carries a stable snake_case code from :data:`CATALOGUE`.
Codes never change meaning once published; new ones are added at the end of their group.
The HTTP mapping (later, in the hub) and the CLI both read this table; ``docs/errors.md``
is checked against it by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is: an error makes the package invalid, a warning does not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """A catalogue entry: the stable code and its message in both languages."""

    code: str
    vi: str
    en: str


def _entries(*rows: tuple[str, str, str]) -> dict[str, ErrorCode]:
    return {code: ErrorCode(code, vi, en) for code, vi, en in rows}


CATALOGUE: dict[str, ErrorCode] = _entries(
    # --- generic
    ("lienthong.error", "Lỗi hệ thống lienthong", "lienthong error"),
    ("usage.bad_argument", "Tham số không hợp lệ", "Invalid argument"),
    ("io.not_found", "Không tìm thấy tệp", "File not found"),
    ("io.unreadable", "Không đọc được tệp", "File cannot be read"),
    # --- agency identification codes (mã định danh), QCVN 102:2016 / QĐ 20/2020
    ("orgcode.empty", "Mã định danh rỗng", "Agency code is empty"),
    (
        "orgcode.bad_format",
        "Mã định danh không đúng dạng DDD.DD.DD.LDD",
        "Agency code is not of the form DDD.DD.DD.LDD",
    ),
    # --- edXML packages (gói tin), QCVN 102:2016
    ("edxml.not_xml", "Gói tin không phải XML hợp lệ", "Package is not well-formed XML"),
    (
        "edxml.malformed_xml_repaired",
        "Gói tin XML sai cú pháp đã được sửa tự động; cần kiểm tra lại phần mềm gửi",
        "Malformed XML was repaired automatically; the sending software should be fixed",
    ),
    (
        "edxml.unsafe_xml",
        "Gói tin chứa DTD, thực thể hoặc cấu trúc không an toàn",
        "Package contains a DTD, entities or another unsafe construct",
    ),
    ("edxml.too_large", "Gói tin vượt quá kích thước cho phép", "Package exceeds the size limit"),
    ("edxml.too_deep", "Gói tin lồng nhau quá sâu", "Package nesting is too deep"),
    ("edxml.bad_root", "Phần tử gốc không phải edXML", "Root element is not edXML"),
    (
        "edxml.wrong_namespace",
        "Phần tử không thuộc không gian tên QCVN 102:2016",
        "Element is not in the QCVN 102:2016 namespace",
    ),
    ("edxml.missing_field", "Thiếu trường bắt buộc", "A required field is missing"),
    ("edxml.bad_organ_id", "Mã định danh cơ quan không hợp lệ", "Invalid agency code"),
    ("edxml.legacy_organ_id", "Mã định danh theo dạng cũ", "Agency code has a legacy shape"),
    ("edxml.bad_date", "Ngày tháng không hợp lệ", "Invalid date"),
    ("edxml.bad_timestamp", "Thời điểm không hợp lệ", "Invalid timestamp"),
    ("edxml.bad_number", "Giá trị số không hợp lệ", "Invalid number"),
    ("edxml.bad_document_id", "Mã văn bản (DocumentId) không hợp lệ", "Invalid DocumentId"),
    (
        "edxml.document_id_mismatch",
        "Mã văn bản không khớp với nơi gửi, ngày ban hành, số và ký hiệu",
        "DocumentId does not match sender, promulgation date, number and notation",
    ),
    ("edxml.bad_status_code", "Mã trạng thái không hợp lệ", "Invalid status code"),
    ("edxml.bad_priority", "Độ khẩn không hợp lệ", "Invalid priority"),
    (
        "edxml.bad_business_type",
        "Loại nghiệp vụ (BussinessDocType) không hợp lệ",
        "Invalid business document type (BussinessDocType)",
    ),
    ("edxml.no_recipient", "Gói tin không có nơi nhận", "Package has no recipient"),
    (
        "edxml.duplicate_recipient",
        "Một cơ quan nhận xuất hiện nhiều lần",
        "The same recipient appears more than once",
    ),
    (
        "edxml.attachment_mismatch",
        "Danh mục tệp đính kèm không khớp với tệp được gửi kèm",
        "Attachment manifest does not match the attached files",
    ),
    ("edxml.bad_base64", "Nội dung tệp đính kèm không phải base64 hợp lệ", "Invalid base64"),
    (
        "edxml.bad_text",
        "Văn bản chứa ký tự không được phép trong XML",
        "Text contains a character XML does not allow",
    ),
    (
        "edxml.bad_attachment_name",
        "Tên tệp đính kèm không an toàn (chứa đường dẫn hoặc ký tự điều khiển)",
        "Unsafe attachment name (contains a path or control characters)",
    ),
    ("edxml.bad_zip", "Tệp nén đính kèm bị hỏng", "Attached ZIP archive is corrupt"),
    (
        "edxml.zip_bomb",
        "Tệp nén đính kèm giải nén quá lớn hoặc tỉ lệ nén bất thường",
        "Attached ZIP expands too much or has an abnormal compression ratio",
    ),
    (
        "edxml.missing_signature",
        "Gói tin không có chữ ký số",
        "Package has no XML signature",
    ),
    (
        "edxml.placeholder_signature",
        "Chữ ký của gói tin chỉ là phần giữ chỗ, không phải chữ ký XML-DSig",
        "Package signature is a placeholder, not an XML-DSig signature",
    ),
    # --- status lifecycle (vòng đời trạng thái)
    (
        "status.illegal_transition",
        "Chuyển trạng thái không hợp lệ",
        "Illegal status transition",
    ),
    (
        "status.out_of_order",
        "Trạng thái đến không theo thứ tự",
        "Status arrived out of order",
    ),
    ("status.after_terminal", "Trạng thái sau khi đã kết thúc", "Status after a terminal status"),
    ("status.duplicate", "Trạng thái trùng lặp", "Duplicate status"),
    # --- calendar (lịch làm việc)
    ("calendar.bad_config", "Cấu hình lịch làm việc không hợp lệ", "Invalid calendar settings"),
    # --- PKI: certificates (chứng thư số)
    ("pki.bad_request", "Yêu cầu cấp chứng thư không hợp lệ", "Invalid certificate request"),
    (
        "pki.out_of_scope",
        "Cơ quan nằm ngoài phạm vi được ủy quyền của CA",
        "The agency is outside the delegated CA's scope",
    ),
    ("pki.unknown_serial", "Không có chứng thư với số hiệu này", "No certificate with this serial"),
    ("pki.already_revoked", "Chứng thư đã bị thu hồi", "The certificate is already revoked"),
    (
        "pki.bad_state",
        "Trạng thái chứng thư không cho phép thao tác này",
        "The certificate's status does not allow this",
    ),
    ("pki.bad_csr", "Yêu cầu chứng thư (CSR) không hợp lệ", "Invalid certificate signing request"),
    ("pki.unknown_ca", "Không có CA với tên này", "No CA of that name"),
    # --- PKI keys (khóa)
    ("pki.key_not_found", "Không tìm thấy khóa", "Key not found"),
    (
        "pki.key_wrong_passphrase",
        "Mật khẩu bảo vệ khóa không đúng",
        "Wrong passphrase for the key",
    ),
    (
        "pki.key_unsupported",
        "Loại khóa không được hỗ trợ (chỉ RSA và EC)",
        "Unsupported key type (only RSA and EC)",
    ),
    (
        "pki.key_unprotected",
        "Khóa bí mật không được bảo vệ bằng mật khẩu",
        "Private key is not protected by a passphrase",
    ),
    ("pki.key_corrupt", "Tệp khóa bị hỏng hoặc sai định dạng", "Key file is corrupt or malformed"),
    ("pki.key_exists", "Khóa đã tồn tại", "Key already exists"),
    (
        "pki.key_signature_invalid",
        "Chữ ký vừa tạo không khớp với khóa công khai",
        "The signature just made does not verify with the public key",
    ),
    (
        "pki.token_unavailable",
        "Không truy cập được thiết bị lưu khóa (token PKCS#11)",
        "PKCS#11 token unavailable",
    ),
    ("pki.token_wrong_pin", "Mã PIN của token không đúng", "Wrong token PIN"),
    ("pki.token_pin_locked", "Mã PIN của token đã bị khóa", "Token PIN is locked"),
    ("pki.token_failed", "Token không thực hiện được thao tác", "The token operation failed"),
    # --- PKI timestamps (dấu thời gian)
    (
        "tsa.bad_request",
        "Yêu cầu cấp dấu thời gian sai định dạng",
        "Malformed timestamp request",
    ),
    (
        "tsa.unsupported_version",
        "Phiên bản yêu cầu cấp dấu thời gian không được hỗ trợ",
        "Unsupported timestamp request version",
    ),
    (
        "tsa.unsupported_hash",
        "Thuật toán băm không được chấp nhận (chỉ SHA-256, SHA-384, SHA-512)",
        "Hash algorithm not accepted (only SHA-256, SHA-384, SHA-512)",
    ),
    (
        "tsa.policy_not_accepted",
        "Chính sách dấu thời gian được yêu cầu không được chấp nhận",
        "The requested timestamp policy is not accepted",
    ),
    (
        "tsa.extension_not_accepted",
        "Yêu cầu cấp dấu thời gian chứa phần mở rộng không được chấp nhận",
        "The timestamp request carries an extension that is not accepted",
    ),
    (
        "tsa.unavailable",
        "Dịch vụ cấp dấu thời gian tạm thời không cấp được",
        "The timestamp authority cannot issue a timestamp now",
    ),
    (
        "tsa.bad_certificate",
        "Chứng thư số không dùng được để cấp dấu thời gian",
        "The certificate cannot be used to sign timestamps",
    ),
    ("tsa.invalid_token", "Dấu thời gian không hợp lệ", "Invalid timestamp token"),
    # --- signatures on documents (ký số văn bản), Decree 30/2020 Appendix I
    ("signing.failed", "Không ký được văn bản", "The document could not be signed"),
    ("signing.bad_pdf", "Tệp không phải PDF đọc được", "The file is not a readable PDF"),
    (
        "signing.encrypted_pdf",
        "Tệp PDF được mã hóa, không ký được",
        "The PDF is encrypted and cannot be signed",
    ),
    (
        "signing.bad_image",
        "Ảnh chữ ký hoặc con dấu không hợp lệ (cần PNG nền trong suốt)",
        "Invalid signature or seal image (a PNG with a transparent background is needed)",
    ),
    ("signing.font_not_found", "Không tìm thấy phông chữ", "Font not found"),
    (
        "signing.missing_glyph",
        "Phông chữ không có ký tự cần hiển thị",
        "The font has no glyph for a character to show",
    ),
    ("signing.bad_page", "Trang không tồn tại trong văn bản", "No such page in the document"),
    (
        "signing.anchor_not_found",
        "Không tìm thấy đoạn văn bản dùng để định vị chữ ký",
        "The text to place the signature at was not found",
    ),
    (
        "signing.field_in_use",
        "Trường chữ ký đã được ký",
        "The signature field is already signed",
    ),
    (
        "signing.no_signer_signature",
        "Văn bản chưa có chữ ký của người có thẩm quyền",
        "The document carries no signature of the person with authority",
    ),
    (
        "signing.no_form_field",
        "Văn bản không có trường số, ký hiệu hoặc ngày ban hành để điền",
        "The document has no number or issuing-date field to fill in",
    ),
    (
        "signing.certificate_mismatch",
        "Chứng thư số không khớp với khóa ký",
        "The certificate does not belong to the signing key",
    ),
    (
        "signing.timestamp_failed",
        "Không lấy được dấu thời gian",
        "No timestamp could be obtained",
    ),
    (
        "signing.revocation_unavailable",
        "Không lấy được thông tin trạng thái chứng thư (OCSP/CRL) để nhúng vào chữ ký",
        "Certificate status (OCSP/CRL) could not be obtained for embedding",
    ),
    # --- verification of signatures (kiểm tra chữ ký số), ETSI EN 319 102-1 indications
    (
        "verify.bad_file",
        "Tệp không đọc được như PDF hoặc gói tin edXML",
        "The file cannot be read as a PDF or an edXML package",
    ),
    (
        "verify.unsupported_file",
        "Chỉ kiểm tra được tệp .pdf và .edxml",
        "Only .pdf and .edxml files can be verified",
    ),
    ("verify.no_signature", "Tệp không có chữ ký số", "The file carries no digital signature"),
    (
        "verify.missing_signature",
        "Gói tin không có chữ ký số (Signature)",
        "The package has no envelope signature",
    ),
    (
        "verify.placeholder_signature",
        "Phần tử Signature chỉ là chỗ giữ chỗ, không phải chữ ký số XML",
        "The Signature element is a placeholder, not an XML-DSig signature",
    ),
    (
        "verify.bad_signature_format",
        "Chữ ký số XML sai cấu trúc hoặc dùng thuật toán không được chấp nhận",
        "The XML signature is malformed or uses an algorithm that is not accepted",
    ),
    (
        "verify.hash_failure",
        "Nội dung đã bị thay đổi sau khi ký",
        "The content was changed after signing",
    ),
    (
        "verify.sig_crypto_failure",
        "Giá trị chữ ký không khớp với chứng thư số",
        "The signature value does not verify with the certificate",
    ),
    (
        "verify.signed_data_not_found",
        "Không tìm thấy phần dữ liệu được ký",
        "The signed data cannot be found",
    ),
    (
        "verify.uncovered_content",
        "Gói tin có nội dung không được chữ ký bảo vệ",
        "The package holds content the signature does not cover",
    ),
    (
        "verify.hops_after_signing",
        "Các bước chuyển tiếp được thêm sau khi ký (không thuộc phạm vi ký)",
        "Hops recorded after signing (outside what is signed)",
    ),
    (
        "verify.no_signing_certificate",
        "Chữ ký không kèm chứng thư số của người ký",
        "The signature carries no signer certificate",
    ),
    (
        "verify.chain_failed",
        "Không xác thực được chuỗi chứng thư số",
        "The certificate chain could not be validated",
    ),
    (
        "verify.untrusted",
        "Chứng thư số không thuộc CA tin cậy",
        "The certificate does not chain to a trusted CA",
    ),
    ("verify.revoked", "Chứng thư số đã bị thu hồi", "The certificate is revoked"),
    (
        "verify.expired",
        "Chứng thư số đã hết hạn hoặc chưa có hiệu lực",
        "The certificate is expired or not yet valid",
    ),
    (
        "verify.revocation_unavailable",
        "Không kiểm tra được trạng thái chứng thư số (OCSP/CRL)",
        "The certificate status (OCSP/CRL) could not be checked",
    ),
    (
        "verify.out_of_scope",
        "CA được ủy quyền cấp chứng thư cho cơ quan ngoài phạm vi của mình",
        "A delegated CA issued a certificate for an agency outside its scope",
    ),
    (
        "verify.agency_mismatch",
        "Mã định danh trong chứng thư số khác mã của cơ quan gửi",
        "The certificate's agency code differs from the sender's",
    ),
    (
        "verify.changed_after_signing",
        "Văn bản bị sửa nội dung sau khi ký (cập nhật gia tăng)",
        "The document's content was changed after signing (incremental update)",
    ),
    ("verify.no_timestamp", "Chữ ký không có dấu thời gian", "The signature carries no timestamp"),
    (
        "verify.timestamp_invalid",
        "Dấu thời gian của chữ ký không hợp lệ",
        "The signature's timestamp does not verify",
    ),
    (
        "verify.appearance_no_signer_image",
        "Chữ ký của người có thẩm quyền không có hình ảnh chữ ký",
        "The signer's signature shows no signature image",
    ),
    (
        "verify.appearance_no_seal",
        "Chữ ký của cơ quan, tổ chức không có hình ảnh con dấu",
        "The organisation signature shows no seal image",
    ),
    (
        "verify.appearance_seal_misplaced",
        "Con dấu không trùm lên khoảng 1/3 bên trái hình ảnh chữ ký",
        "The seal does not overlap the left third of the signer's image",
    ),
    (
        "verify.appearance_no_time",
        "Chữ ký của cơ quan, tổ chức không hiển thị thời gian ký theo ISO 8601 (+07:00)",
        "The organisation signature shows no ISO 8601 signing time (+07:00)",
    ),
    (
        "verify.appearance_position",
        "Chữ ký trên tệp đính kèm không ở góc trên bên phải trang đầu",
        "The attachment signature is not at the top right of the first page",
    ),
    (
        "verify.attachment_unreadable",
        "Không đọc được tệp đính kèm",
        "An attached file cannot be read",
    ),
    (
        "verify.attachment_unsigned",
        "Tệp đính kèm PDF không có chữ ký số",
        "An attached PDF carries no signature",
    ),
    # --- hub: authentication of calling systems (xác thực hệ thống kết nối), ADR 0009
    ("hub.auth_missing", "Yêu cầu chưa được ký xác thực", "The request is not authenticated"),
    ("hub.auth_invalid", "Chữ ký xác thực yêu cầu không hợp lệ", "Invalid request signature"),
    (
        "hub.auth_untrusted",
        "Chứng thư số của hệ thống không được tin cậy hoặc đã hết hạn",
        "The system's certificate is not trusted or not valid now",
    ),
    ("hub.auth_revoked", "Chứng thư số của hệ thống đã bị thu hồi", "The certificate is revoked"),
    (
        "hub.auth_revocation_unknown",
        "Không kiểm tra được tình trạng thu hồi của chứng thư số",
        "The certificate's revocation status cannot be checked",
    ),
    (
        "hub.auth_expired",
        "Thời điểm ký yêu cầu nằm ngoài khoảng cho phép",
        "The request's date is outside the allowed window",
    ),
    ("hub.auth_replayed", "Yêu cầu đã được gửi trước đó (phát lại)", "Replayed request"),
    (
        "hub.auth_unknown_system",
        "Chứng thư số không gắn với hệ thống kết nối nào",
        "The certificate belongs to no connected system",
    ),
    ("hub.forbidden_agency", "Hệ thống không được hành động cho cơ quan này", "Not your agency"),
    ("hub.operator_only", "Chỉ người vận hành trục được thực hiện", "Operators only"),
    # --- the agency SDK (lienthong.client)
    ("client.unreachable", "Không kết nối được trục liên thông", "The hub cannot be reached"),
    ("client.bad_response", "Trục liên thông trả lời không hợp lệ", "Invalid answer from the hub"),
    ("client.refused", "Trục liên thông từ chối yêu cầu", "The hub refused the request"),
    # --- hub core: sending, routing, delivery (trục liên thông), docs/hub.md
    ("hub.forbidden", "Không có quyền với gói tin này", "Not allowed for this package"),
    (
        "hub.forged_sender",
        "Cơ quan gửi (From) không thuộc hệ thống gửi",
        "The sender (From) is not an agency of the calling system",
    ),
    ("hub.invalid_package", "Gói tin không hợp lệ", "Invalid package"),
    (
        "hub.bad_signature",
        "Chữ ký số trên gói tin không hợp lệ",
        "The package's envelope signature is invalid",
    ),
    ("hub.unsigned", "Gói tin chưa được ký số", "The package carries no envelope signature"),
    (
        "hub.unknown_recipient",
        "Cơ quan nhận không có trong danh mục",
        "A recipient is not in the registry",
    ),
    ("hub.no_recipient", "Gói tin không có cơ quan nhận", "The package has no recipient"),
    (
        "hub.unknown_original",
        "Không tìm thấy văn bản gốc được tham chiếu",
        "The document referred to was not found",
    ),
    ("hub.not_found", "Không tìm thấy gói tin", "Package not found"),
    ("hub.too_large", "Gói tin vượt quá kích thước cho phép", "Package too large"),
    ("hub.unknown_system", "Hệ thống kết nối không tồn tại", "Unknown connected system"),
    (
        "hub.bad_pdf_signature",
        "Chữ ký số trên văn bản PDF không hợp lệ (nơi nhận yêu cầu từ chối)",
        "A PDF signature is not valid and a recipient's policy refuses it",
    ),
    # --- the national SDK's protocol (VDXP) served by the hub, docs/vdxp.md
    (
        "vdxp.unsigned",
        "Yêu cầu thiếu tiêu đề ký XroadVnpt-sign-header / XroadVnpt-hash-header",
        "The request lacks the XroadVnpt-sign-header / XroadVnpt-hash-header headers",
    ),
    ("vdxp.auth_failed", "Xác thực hệ thống thất bại", "System authentication failed"),
    (
        "vdxp.header_mismatch",
        "Tiêu đề yêu cầu không khớp với phần đã ký",
        "A request header does not match its signed value",
    ),
    (
        "vdxp.bad_timestamp",
        "Tiêu đề timestamp không đúng dạng ddMMyyyy'T'HHmmss+SSSS",
        "The timestamp header is not of the form ddMMyyyy'T'HHmmss+SSSS",
    ),
    (
        "vdxp.stale_timestamp",
        "Thời điểm của yêu cầu nằm ngoài khoảng cho phép",
        "The request's timestamp is outside the allowed window",
    ),
    ("vdxp.missing_parameter", "Thiếu tham số bắt buộc", "A required parameter is missing"),
    ("vdxp.bad_parameter", "Tham số không hợp lệ", "Invalid parameter"),
    ("vdxp.unknown_method", "Phương thức không được hỗ trợ", "Unknown method"),
    (
        "vdxp.hash_mismatch",
        "Mã băm hash-file không khớp với nội dung gói tin",
        "hash-file does not match the package sent",
    ),
    ("vdxp.too_large", "Gói tin vượt quá kích thước cho phép", "The package is too large"),
    (
        "vdxp.unsupported",
        "Trục không cung cấp chức năng này qua giao thức VDXP",
        "The hub does not offer this over the VDXP protocol",
    ),
    (
        "vdxp.not_your_agency",
        "Hệ thống không được hành động cho cơ quan này",
        "The system does not act for this agency",
    ),
    ("vdxp.failed", "Trục từ chối yêu cầu", "The hub refused the request"),
    # --- storage
    ("store.bad_url", "Địa chỉ cơ sở dữ liệu không hợp lệ", "Invalid database URL"),
    ("store.unavailable", "Không kết nối được cơ sở dữ liệu", "Database unavailable"),
    ("store.conflict", "Bản ghi đã tồn tại", "Record already exists"),
    ("store.not_found", "Không tìm thấy bản ghi", "Record not found"),
    (
        "store.bad_reference",
        "Bản ghi tham chiếu đến bản ghi không tồn tại",
        "Record refers to a record that does not exist",
    ),
    ("store.bad_key", "Khóa lưu trữ không hợp lệ", "Invalid storage key"),
    ("store.corrupt", "Dữ liệu lưu trữ bị hỏng", "Stored data is corrupt"),
    (
        "store.migration_failed",
        "Nâng cấp cấu trúc cơ sở dữ liệu thất bại",
        "Database schema migration failed",
    ),
    (
        "audit.bad_entry",
        "Bản ghi nhật ký kiểm toán không hợp lệ",
        "Invalid audit log entry",
    ),
    (
        "audit.chain_broken",
        "Chuỗi băm nhật ký kiểm toán bị phá vỡ: bản ghi đã bị sửa, xóa hoặc đổi thứ tự",
        "The audit log hash chain is broken: an entry was edited, deleted or moved",
    ),
)


def lookup(code: str) -> ErrorCode:
    """Return the catalogue entry for ``code``; unknown codes are a programming error."""
    return CATALOGUE[code]


class LienthongError(Exception):
    """Lỗi hệ thống lienthong / lienthong error."""

    default_code = "lienthong.error"

    def __init__(self, code: str | None = None, detail: str = "", *, path: str = "") -> None:
        self.code = code or self.default_code
        entry = lookup(self.code)
        self.detail = detail
        self.path = path
        self.message_vi = entry.vi
        self.message_en = entry.en
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line: code, English message, then the detail and where it was found."""
        text = f"{self.code}: {self.message_en}"
        if self.path:
            text += f" at {self.path}"
        if self.detail:
            text += f" ({self.detail})"
        return text


class UsageError(LienthongError):
    """Tham số không hợp lệ / invalid argument."""

    default_code = "usage.bad_argument"


class OrgCodeError(LienthongError, ValueError):
    """Mã định danh không hợp lệ / invalid agency code."""

    default_code = "orgcode.bad_format"


class EdxmlError(LienthongError, ValueError):
    """Gói tin edXML không hợp lệ / invalid edXML package."""

    default_code = "edxml.not_xml"


class StatusError(LienthongError):
    """Trạng thái không hợp lệ / invalid status."""

    default_code = "status.illegal_transition"


class CalendarError(LienthongError, ValueError):
    """Cấu hình lịch không hợp lệ / invalid calendar configuration."""

    default_code = "calendar.bad_config"


class StoreError(LienthongError):
    """Lỗi lưu trữ / storage error."""

    default_code = "store.unavailable"


class PkiError(LienthongError):
    """Lỗi hạ tầng khóa công khai / PKI error."""

    default_code = "pki.bad_request"


class SigningError(LienthongError):
    """Lỗi ký số văn bản / document signing error."""

    default_code = "signing.failed"
