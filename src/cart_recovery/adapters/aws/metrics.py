"""Metrics of our own on AWS as Embedded Metric Format lines: one JSON line in the function's
log, which CloudWatch turns into a metric point (no PutMetricData call, no extra permission).

The line is written on its own to stdout, not through ``logging``: the Lambda runtime prefixes
each logged record with its level and request id, and a prefixed line is not read as EMF. The
line names no error, throttle or timeout, so the generic log-errors filter never counts it: the
metric has an alarm of its own (``infra/template.yaml``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping

NAMESPACE = "CartRecovery"
DOC_REJECTED = "DocRejected"

Emit = Callable[[str], None]


def metric_line(name: str, dimensions: Mapping[str, str], *, at_ms: int, value: float = 1) -> str:
    """One EMF document for ``name`` = ``value``, published both with ``dimensions`` and
    without any (the alarm watches the total)."""
    document: dict[str, object] = {
        "_aws": {
            "Timestamp": at_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(dimensions), []],
                    "Metrics": [{"Name": name, "Unit": "Count"}],
                }
            ],
        },
        **dimensions,
        name: value,
    }
    return json.dumps(document, sort_keys=True)


def stdout_line(line: str) -> None:
    """Write ``line`` as one log event of the function."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def doc_rejected(doc: str, *, emit: Emit = stdout_line) -> None:
    """A new version of ``doc`` (``rules`` or ``voice``) was refused: count it."""
    emit(metric_line(DOC_REJECTED, {"Doc": doc}, at_ms=int(time.time() * 1000)))
