"""Counters for operators (Prometheus text format at ``/metrics``): events in, wake-ups, sends,
skips by reason, deferrals, closes, mail errors. One registry per runtime, nothing global."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from cart_recovery.service import Closed, Deferred, Happening, MailFailed, Sent, Skipped, Stopped


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "cart_recovery_events", "Cart events received, by outcome", ["outcome"], registry=r
        )
        self.wakeups = Counter("cart_recovery_wakeups", "Wake-ups fired", registry=r)
        self.sends = Counter("cart_recovery_sends", "Reminders sent, by step", ["step"], registry=r)
        self.skips = Counter(
            "cart_recovery_skips", "Reminders skipped, by reason", ["reason"], registry=r
        )
        self.deferrals = Counter("cart_recovery_deferrals", "Quiet-hours deferrals", registry=r)
        self.closed = Counter(
            "cart_recovery_closed", "Carts closed, by reason", ["reason"], registry=r
        )
        self.stopped = Counter(
            "cart_recovery_stopped", "Sends refused at the last re-check", ["why"], registry=r
        )
        self.errors = Counter("cart_recovery_errors", "Errors, by where", ["where"], registry=r)
        self.pending = Gauge("cart_recovery_pending_wakeups", "Wake-ups waiting", registry=r)

    def observe(self, h: Happening) -> None:
        if isinstance(h, Sent):
            self.sends.labels(str(h.step)).inc()
        elif isinstance(h, Skipped):
            self.skips.labels(h.reason).inc()
        elif isinstance(h, Deferred):
            self.deferrals.inc()
        elif isinstance(h, Closed):
            self.closed.labels(h.reason).inc()
        elif isinstance(h, Stopped):
            self.stopped.labels(h.why).inc()
        elif isinstance(h, MailFailed):
            self.errors.labels("mail").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
