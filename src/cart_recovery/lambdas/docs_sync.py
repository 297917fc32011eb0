"""``docs-sync`` (Scheduler ``rate(5 minutes)``): the owner's two Google Docs followed into
the docs bucket (``service.doc_sync.DocSync``): a new revision that reads fine becomes a new
version of ``rules.txt`` / ``voice.txt``, a bad one is refused (the owners emailed once, the
``DocRejected`` metric counted) while the last good version keeps serving, and an unchanged
one costs one Drive metadata call per Doc.

The input is not read. The answer counts the docs by outcome (``unchanged``, ``applied``,
``refused``, ``failed``); without both Doc ids configured it does nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from cart_recovery.bootstrap.aws import AwsApp, current_app

log = logging.getLogger("cart_recovery.aws.docs_sync")


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    return handle(current_app())


def handle(app: AwsApp) -> dict[str, Any]:
    app.begin()
    sync = app.doc_sync()
    if sync is None:
        log.info("no Google Docs configured: nothing to follow")
        return {"configured": False}
    results = sync.run(app.now())
    for r in results:
        if r.outcome == "failed":
            log.warning("a Google Doc could not be synced", extra={"doc": r.doc, "error": r.error})
    counts = Counter(r.outcome for r in results)
    return {"configured": True, **{k: counts.get(k, 0) for k in OUTCOMES}}


OUTCOMES = ("unchanged", "applied", "refused", "failed")
