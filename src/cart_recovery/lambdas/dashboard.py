"""``dashboard`` (Function URL): the owner's dashboard on AWS. The same app as the embedded
runtime's ``/admin`` (``web/admin``: today's and the month's carts, a cart's page and audit,
the owner's actions, the docs, privacy), over DynamoDB, behind the owner login, through
Mangum."""

from __future__ import annotations

from typing import Any

from cart_recovery.bootstrap.aws import current_app


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    app = current_app()
    app.begin()
    return app.dashboard(event, context)
