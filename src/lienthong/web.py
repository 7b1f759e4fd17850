"""What the HTTP edges (the CA's services, the hub, the VDXP adapter) share."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLargeError(Exception):
    """A request body went over the edge's limit (each edge answers with its own code)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} bytes")
        self.limit = limit


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as ``Content-Length`` or the bytes streamed so far
    go over ``limit`` (a chunked upload without a length is cut off too)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(limit)
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = ["BodyTooLargeError", "read_body"]
