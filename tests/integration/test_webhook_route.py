"""The generic webhook's lean ASGI route answers exactly as the framework route it stands in
front of: the same status, body bytes and content type for every kind of delivery, and the
same events stored. And both refuse, with 401 and the reason's code, any delivery the storefront
did not sign just now, storing nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cart_recovery.adapters.storefronts.generic import sign
from cart_recovery.bootstrap.embedded import Embedded, embedded, init_data_dir
from cart_recovery.config.settings import load_settings
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.web.app import App

START = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)
ROUTE_SECRET = "route-secret-0123456789abcdef"


def event(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": "e1",
        "type": "cart.updated",
        "cart_id": "c1",
        "occurred_at": "2026-05-12T13:59:00Z",
        "email": "maya@example.com",
        "items": [{"title": "Linen shirt", "quantity": 1, "unit_price": "120.00"}],
        "total": "120.00",
        "currency": "USD",
    }
    body.update(over)
    return body


def deliveries(secret: str) -> list[tuple[str, str, bytes, dict[str, str]]]:
    ts = int(START.timestamp())

    def signed(raw: bytes, at: int = ts) -> dict[str, str]:
        return {"Content-Type": "application/json", **sign(raw, secret, at)}

    ok = json.dumps(event()).encode()
    other = json.dumps(event(event_id="é-2", cart_id="c2")).encode()
    bad_qty = json.dumps(event(event_id="e3", items=[{"title": "x", "quantity": 0}])).encode()
    bad_zone = json.dumps(event(event_id="e4", timezone="Mars/Olympus")).encode()
    huge = json.dumps(event(event_id="e5", name="x" * (300 * 1024))).encode()
    return [
        ("POST", "accepted", ok, signed(ok)),
        ("POST", "duplicate", ok, signed(ok)),
        ("POST", "non-ASCII id", other, signed(other)),
        ("POST", "unsigned", ok, {"Content-Type": "application/json"}),
        ("POST", "no signature", ok, {"X-Cart-Timestamp": str(ts)}),
        ("POST", "bad signature", ok, {**signed(ok), "X-Cart-Signature": "sha256=00"}),
        ("POST", "not sha256", ok, {**signed(ok), "X-Cart-Signature": "md5=00"}),
        ("POST", "stale", ok, signed(ok, ts - 301)),
        ("POST", "bad timestamp", ok, {**signed(ok), "X-Cart-Timestamp": "soon"}),
        ("POST", "not JSON", b"{nope", signed(b"{nope")),
        ("POST", "bad field", bad_qty, signed(bad_qty)),
        ("POST", "bad timezone", bad_zone, signed(bad_zone)),
        ("POST", "too large", huge, signed(huge)),
        ("GET", "wrong method", b"", {}),
    ]


def runtime(folder: Path, *, lean: bool) -> tuple[Embedded, TestClient]:
    init_data_dir(folder)
    (folder / "config.toml").write_text(
        f'webhook_secrets = ["{ROUTE_SECRET}", "old-secret-0123456789abcdef"]\n'
        'signing_key = "route-signing-key-0123456789"\n'
        'admin_token = "route-admin-token-0123456789"\n',
        encoding="utf-8",
    )
    rt = embedded(load_settings(folder, {}), clock=VirtualClock(START), run_timers=False)
    assert isinstance(rt.app, App) and rt.app.webhook is not None
    if not lean:
        rt.app.webhook = None  # the framework route only
    return rt, TestClient(rt.app, base_url="http://testserver")


@pytest.mark.parametrize("secret_index", [0, 1], ids=["current secret", "previous secret"])
def test_lean_route_answers_as_the_framework_route(tmp_path: Path, secret_index: int) -> None:
    lean, lean_client = runtime(tmp_path / "lean", lean=True)
    framework, framework_client = runtime(tmp_path / "framework", lean=False)
    secret = lean.settings.webhook_secrets[secret_index]
    try:
        for method, label, body, headers in deliveries(secret):
            got = [
                client.request(method, "/webhooks/cart", content=body, headers=headers)
                for client in (lean_client, framework_client)
            ]
            a, b = got
            assert (a.status_code, a.content) == (b.status_code, b.content), label
            assert a.headers.get("content-type") == b.headers.get("content-type"), label
            assert a.headers.get("content-length") == b.headers.get("content-length"), label
        for table in ("events", "carts", "audit", "timers"):
            assert lean.store.count(table) == framework.store.count(table) == 2, table
    finally:
        for rt in (lean, framework):
            rt.close()


def test_lean_route_names_the_field_and_counts_outcomes(tmp_path: Path) -> None:
    rt, client = runtime(tmp_path / "lean", lean=True)
    secret = rt.settings.webhook_secrets[0]
    try:
        raw = json.dumps(event(items=[{"title": "x", "quantity": 0}])).encode()
        r = client.post("/webhooks/cart", content=raw, headers=sign(raw, secret, 1778594400))
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_event"
        assert r.json()["field"] == "items[0].quantity"
        raw = json.dumps(event()).encode()
        r = client.post("/webhooks/cart", content=raw, headers=sign(raw, secret, 1778594400))
        assert r.json() == {"status": "accepted", "event_id": "e1"}
        metrics = client.get("/metrics").text
        assert 'cart_recovery_events_total{outcome="accepted"} 1.0' in metrics
        assert 'cart_recovery_events_total{outcome="invalid_event"} 1.0' in metrics
    finally:
        rt.close()


def refusals(secret: str) -> list[Any]:
    """Deliveries that must be refused as not coming from the storefront: (headers, code)."""
    ts = int(START.timestamp())
    ok = json.dumps(event()).encode()
    return [
        pytest.param({"Content-Type": "application/json"}, "unsigned", id="unsigned"),
        pytest.param(
            sign(ok, "some-other-secret-0123456789abcdef", ts), "bad_signature", id="wrong secret"
        ),
        pytest.param(
            {**sign(ok, secret, ts), "X-Cart-Signature": "sha256=00"},
            "bad_signature",
            id="bad signature",
        ),
        pytest.param(sign(ok + b" ", secret, ts), "bad_signature", id="signature of another body"),
        pytest.param(sign(ok, secret, ts - 301), "stale_timestamp", id="stale"),
        pytest.param(sign(ok, secret, ts + 301), "stale_timestamp", id="from the future"),
    ]


@pytest.mark.parametrize("lean", [True, False], ids=["lean route", "framework route"])
@pytest.mark.parametrize(("headers", "code"), refusals(ROUTE_SECRET))
def test_an_unsigned_badly_signed_or_stale_delivery_is_refused_and_stores_nothing(
    tmp_path: Path, lean: bool, headers: dict[str, str], code: str
) -> None:
    # Given a running service
    rt, client = runtime(tmp_path / "rt", lean=lean)
    assert rt.settings.webhook_secrets[0] == ROUTE_SECRET
    try:
        # When a cart event arrives that the storefront did not sign (just now)
        body = json.dumps(event()).encode()
        r = client.post("/webhooks/cart", content=body, headers=headers)
        # Then it is refused as unauthenticated, saying why
        assert r.status_code == 401
        assert r.json()["error"] == code
        # And nothing was stored
        for table in ("events", "carts", "audit", "timers", "sends"):
            assert rt.store.count(table) == 0, table
    finally:
        rt.close()
