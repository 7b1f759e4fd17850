"""The agency SDK (thư viện kết nối): send, receive, acknowledge and report statuses through
the hub, over our ``/v1`` API or the national VDXP protocol."""
