"""``unsub-handler`` (Function URL; ``CR_BASE_URL`` points here): the links in emails and
exports. The same pages as the embedded app (``web/links.py``: ``/u`` unsubscribe, ``/r``
return link, ``/a`` owner action links), served through Mangum."""

from __future__ import annotations

from typing import Any

from cart_recovery.bootstrap.aws import current_app


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    app = current_app()
    app.begin()
    return app.link_pages(event, context)
