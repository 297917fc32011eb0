"""A catalog of attacks on the live service, as data: each one is a small function that takes a
running service (``tests.e2e.harness.LiveService``: uvicorn on 127.0.0.1, a real SMTP server, a
virtual clock) and answers an ``Outcome``: whether the service refused it, and what was seen.

Every attack checks both halves of a refusal: the answer (status code, error body, redirect)
and that nothing was stored or changed (row counts and the rows it aimed at, before and after).

    outcomes = run_all(live)   # every attack, in catalog order; the secrets check runs last
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import logging
import os
import re
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import httpx
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from cart_recovery.adapters.storefronts import shopify, standard_webhooks
from cart_recovery.adapters.storefronts.generic import sign

if TYPE_CHECKING:
    from tests.e2e.harness import LiveService

WRONG_KEY = "not-the-signing-key-of-this-service-0000"
WRONG_SECRET = "not-the-webhook-secret-of-this-service-00"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
CRLF_NAME = "Eve\r\nBcc: victim@example.com"
RAW_MARKUP = re.compile(r"<script|<img[^>]*onerror|javascript:", re.IGNORECASE)
CLIENT_LOGGERS = ("httpx", "httpcore", "hpack")  # the attacker's side, not the service's


@dataclass(frozen=True)
class Outcome:
    name: str
    refused: bool
    detail: str


class Checks:
    """What one attack expected; any miss means the attack was not (fully) refused."""

    def __init__(self) -> None:
        self.misses: list[str] = []
        self.seen: list[str] = []

    def expect(self, ok: bool, what: str) -> bool:
        if not ok:
            self.misses.append(what)
        return ok

    def note(self, text: str) -> None:
        self.seen.append(text)


@dataclass(frozen=True)
class Attack:
    name: str
    area: str
    summary: str
    body: Callable[[LiveService, Checks], None] = field(repr=False)

    def __call__(self, live: LiveService) -> Outcome:
        checks = Checks()
        try:
            self.body(live, checks)
        except Exception as e:  # an attack that cannot be checked is not counted as refused
            checks.misses.append(f"could not be checked: {type(e).__name__}: {e}")
        if checks.misses:
            return Outcome(self.name, False, "; ".join(checks.misses))
        return Outcome(self.name, True, "; ".join(checks.seen) or "refused")


CATALOG: list[Attack] = []


def attack(area: str, name: str, summary: str) -> Callable[[Callable[..., None]], Attack]:
    def register(body: Callable[[LiveService, Checks], None]) -> Attack:
        entry = Attack(f"{area}: {name}", area, summary, body)
        CATALOG.append(entry)
        return entry

    return register


# ---- what the run saw: every response body and every log record ----------------------------


@dataclass
class Recorder:
    responses: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)

    def on_response(self, response: httpx.Response) -> None:
        response.read()
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.responses.append(f"{response.request.url}\n{headers}\n{response.text}")


class _Capture(logging.Handler):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__(logging.DEBUG)
        self.recorder = recorder
        self.formatter_ = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in CLIENT_LOGGERS:
            return
        try:
            text = self.formatter_.format(record)
        except Exception:
            text = str(record.msg)
        extras = {k: v for k, v in vars(record).items() if k not in ("msg", "args")}
        self.recorder.records.append(f"{text}\n{extras!r}")


_recorders: weakref.WeakKeyDictionary[Any, Recorder] = weakref.WeakKeyDictionary()
_state: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def recorder_of(live: LiveService) -> Recorder:
    return _recorders.setdefault(live, Recorder())


def client(live: LiveService) -> httpx.Client:
    """A fresh client (own cookies) whose answers are recorded like ``live.http``'s."""
    return httpx.Client(
        base_url=live.http.base_url,
        timeout=10,
        event_hooks={"response": [recorder_of(live).on_response]},
    )


# ---- helpers -----------------------------------------------------------------------------------

_ids = itertools.count(1)


def event(live: LiveService, cart: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"{cart}-{next(_ids)}",
        "type": "cart.updated",
        "cart_id": cart,
        "occurred_at": live.clock.now().isoformat(),
        "email": f"{cart}@example.com",
        "name": "Maya",
        "items": [
            {"title": "Linen shirt", "quantity": 1, "unit_price": "68.00"},
            {"title": "Beeswax candle", "quantity": 2, "unit_price": "18.00"},
            {"title": "Canvas tote", "quantity": 1, "unit_price": "16.00"},
        ],
        "currency": "USD",
        "return_url": f"https://shop.example/cart/{cart}",
    }
    body.update(extra)
    return body


def snapshot(live: LiveService) -> dict[str, int]:
    store = live.rt.store
    return {**live.counts(), **{t: store.count(t) for t in ("unsubscribes", "clicks")}}


def cart_state(live: LiveService, cart_id: str) -> tuple[Any, Any, int, int]:
    cart, sends = live.rt.store.load(cart_id)
    events = len(live.rt.store.events_of(cart_id))
    return cart, sends, events, len(live.rt.store.audit(cart_id))


def unchanged(live: LiveService, c: Checks, before: dict[str, int], what: str) -> None:
    after = snapshot(live)
    diff = {k: (before[k], after[k]) for k in before if before[k] != after.get(k)}
    c.expect(not diff, f"{what} changed stored rows {diff}")


def error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def expect_refused(
    c: Checks, response: httpx.Response, status: int, error: str | None = None, fld: str = ""
) -> None:
    body = error_of(response)
    c.expect(response.status_code == status, f"answered {response.status_code}, not {status}")
    if error is not None:
        c.expect(body.get("error") == error, f"error {body.get('error')!r}, not {error!r}")
    if fld:
        c.expect(body.get("field") == fld, f"field {body.get('field')!r}, not {fld!r}")
    c.note(f"{response.status_code} {body.get('error', '')} {body.get('field', '')}".strip())


def _harness_secret() -> str:
    from tests.e2e.harness import SECRET

    return SECRET


def post_signed(live: LiveService, body: bytes, *, at: datetime | None = None) -> httpx.Response:
    ts = int((at or live.clock.now()).timestamp())
    headers = {**sign(body, _harness_secret(), ts), "Content-Type": "application/json"}
    return live.http.post("/webhooks/cart", content=body, headers=headers)


def altered(token: str, at: int) -> str:
    ch = token[at]
    return token[:at] + ("A" if ch != "A" else "B") + token[at + 1 :]


def forged_serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(WRONG_KEY, salt=salt)


def mail_to(live: LiveService, address: str) -> list[EmailMessage]:
    return [
        m
        for m, (_from, rcpts) in zip(live.inbox.messages, live.inbox.envelopes, strict=True)
        if address in rcpts or address in str(m.get("To", ""))
    ]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    return "" if part is None else str(part.get_content())


def logged_in(live: LiveService) -> httpx.Client:
    """A dashboard client logged in with the admin token."""
    owner = client(live)
    page = owner.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None, "no CSRF field on the login page"
    done = owner.post(
        "/admin/login",
        data={"csrf": csrf.group(1), "token": live.settings.admin_token, "next": "/admin/"},
    )
    assert done.status_code == 303, f"login answered {done.status_code}"
    return owner


def csrf_of(owner: httpx.Client) -> str:
    page = owner.get("/admin/")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, "no CSRF field on the dashboard"
    return found.group(1)


def mailed(live: LiveService) -> dict[str, Any]:
    """Once per service: carts carrying markup and a CR/LF name, reminded over SMTP."""
    state = _state.setdefault(live, {})
    if "mailed" in state:
        return dict(state["mailed"])
    xss = event(
        live,
        "sec-xss",
        name=IMG,
        items=[
            {"title": SCRIPT, "quantity": 1, "unit_price": "68.00"},
            {"title": IMG, "quantity": 2, "unit_price": "18.00"},
            {"title": "Canvas tote", "quantity": 1, "unit_price": "16.00"},
        ],
    )
    link = event(
        live,
        "sec-jslink",
        items=[
            {
                "title": "Linen shirt",
                "quantity": 1,
                "unit_price": "120.00",
                "url": "javascript:alert(1)",
                "image_url": "javascript:alert(1)",
            }
        ],
    )
    crlf = event(live, "sec-crlf", name=CRLF_NAME)
    plain = event(live, "sec-return")
    answers = {cart["cart_id"]: live.post_event(cart) for cart in (xss, link, crlf, plain)}
    start = live.clock.now()
    # The clock follows the real time of day (signed links carry it), so the first wait may
    # fall into quiet hours: step on until the first reminders have gone out.
    for hours in range(2, 39, 3):
        live.advance(start + timedelta(hours=hours))
        if mail_to(live, "sec-return@example.com"):
            break
    state["mailed"] = {"answers": answers}
    return dict(state["mailed"])


# ---- webhooks ----------------------------------------------------------------------------------


@attack("webhook", "missing signature", "an unsigned event is refused (401) and not stored")
def _missing_signature(live: LiveService, c: Checks) -> None:
    before = snapshot(live)
    r = live.http.post("/webhooks/cart", json=event(live, "sec-unsigned"))
    expect_refused(c, r, 401, "unsigned")
    body = json.dumps(event(live, "sec-unsigned")).encode()
    ts = str(int(live.clock.now().timestamp()))
    r = live.post_raw("/webhooks/cart", body, {"X-Cart-Timestamp": ts})
    expect_refused(c, r, 401, "unsigned", "x-cart-signature")
    unchanged(live, c, before, "an unsigned event")


@attack("webhook", "wrong secret", "an event signed with another secret is refused")
def _wrong_secret(live: LiveService, c: Checks) -> None:
    before = snapshot(live)
    r = live.post_event(event(live, "sec-wrong-secret"), secret=WRONG_SECRET)
    expect_refused(c, r, 401, "bad_signature", "x-cart-signature")
    unchanged(live, c, before, "a wrongly signed event")


@attack("webhook", "tampered body", "a valid signature over a different body is refused")
def _tampered(live: LiveService, c: Checks) -> None:
    before = snapshot(live)
    original = json.dumps(event(live, "sec-tampered")).encode()
    ts = int(live.clock.now().timestamp())
    headers = {**sign(original, _harness_secret(), ts), "Content-Type": "application/json"}
    changed = original.replace(b"68.00", b"0.01")
    c.expect(changed != original, "the body could not be altered")
    r = live.http.post("/webhooks/cart", content=changed, headers=headers)
    expect_refused(c, r, 401, "bad_signature")
    unchanged(live, c, before, "a tampered body")


@attack("webhook", "replayed old timestamp", "a correctly signed event 6 minutes old")
def _stale(live: LiveService, c: Checks) -> None:
    before = snapshot(live)
    body = json.dumps(event(live, "sec-stale")).encode()
    r = post_signed(live, body, at=live.clock.now() - timedelta(minutes=6))
    expect_refused(c, r, 401, "stale_timestamp", "x-cart-timestamp")
    unchanged(live, c, before, "a replayed event")


@attack("webhook", "future timestamp", "a correctly signed event 6 minutes in the future")
def _future(live: LiveService, c: Checks) -> None:
    before = snapshot(live)
    body = json.dumps(event(live, "sec-future")).encode()
    r = post_signed(live, body, at=live.clock.now() + timedelta(minutes=6))
    expect_refused(c, r, 401, "stale_timestamp", "x-cart-timestamp")
    unchanged(live, c, before, "a future-dated event")


@attack("webhook", "reused event id", "a redelivery with other content is a 200 duplicate no-op")
def _reused_id(live: LiveService, c: Checks) -> None:
    first = event(live, "sec-reused")
    r = live.post_event(first)
    c.expect(error_of(r).get("status") == "accepted", f"first delivery answered {r.text!r}")
    before, state = snapshot(live), cart_state(live, "sec-reused")
    again = {**first, "name": "Mallory", "email": "mallory@example.com", "items": []}
    r = live.post_event(again)
    c.expect(r.status_code == 200, f"redelivery answered {r.status_code}")
    c.expect(error_of(r).get("status") == "duplicate", f"redelivery answered {r.text!r}")
    c.note(f"{r.status_code} {error_of(r).get('status')}")
    unchanged(live, c, before, "a redelivery")
    c.expect(cart_state(live, "sec-reused") == state, "a redelivery changed the cart")


@attack("webhook", "oversized body", "a signed body over 256 KiB is refused with 413")
def _oversized(live: LiveService, c: Checks) -> None:
    before = snapshot(live)
    r = live.post_event(event(live, "sec-huge", name="x" * (300 * 1024)))
    expect_refused(c, r, 413, "too_large")
    unchanged(live, c, before, "an oversized body")


@attack("webhook", "oversized chunked body", "over 256 KiB without a Content-Length header")
def _oversized_chunked(live: LiveService, c: Checks) -> None:
    before = snapshot(live)
    body = json.dumps(event(live, "sec-huge-chunked", name="x" * (300 * 1024))).encode()
    ts = int(live.clock.now().timestamp())
    headers = {**sign(body, _harness_secret(), ts), "Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 16 * 1024):
            yield body[i : i + 16 * 1024]

    r = live.http.post("/webhooks/cart", content=chunks(), headers=headers)
    expect_refused(c, r, 413, "too_large")
    unchanged(live, c, before, "an oversized chunked body")


@attack("webhook", "malformed JSON", "a signed body that is not JSON: 400 naming the field")
def _malformed(live: LiveService, c: Checks) -> None:
    before = snapshot(live)
    r = post_signed(live, b'{"event_id": "sec-malformed-1", "cart_id": ')
    expect_refused(c, r, 400, "invalid_json", "$")
    unchanged(live, c, before, "malformed JSON")


@attack("webhook", "invalid field", "a signed event with a zero quantity: 400 naming the field")
def _invalid_field(live: LiveService, c: Checks) -> None:
    before = snapshot(live)
    bad = event(live, "sec-invalid", items=[{"title": "x", "quantity": 0, "unit_price": "1"}])
    r = live.post_event(bad)
    expect_refused(c, r, 400, "invalid_event", "items[0].quantity")
    unchanged(live, c, before, "an invalid event")


@attack("webhook", "shopify wrong hmac", "a Shopify delivery with a wrong X-Shopify-Hmac-Sha256")
def _shopify(live: LiveService, c: Checks) -> None:
    before = snapshot(live)
    body = json.dumps(
        {
            "token": "sec-shopify-token",
            "email": "shopify@example.com",
            "updated_at": live.clock.now().isoformat(),
            "line_items": [{"title": "Linen shirt", "quantity": 1, "price": "68.00"}],
            "total_price": "68.00",
            "currency": "USD",
        }
    ).encode()
    headers = {
        **shopify.sign(body, WRONG_SECRET),
        "X-Shopify-Topic": "checkouts/update",
        "X-Shopify-Webhook-Id": "sec-shopify-1",
    }
    r = live.post_raw("/webhooks/shopify", body, headers)
    if live.settings.shopify_secrets:
        expect_refused(c, r, 401, "bad_signature", "x-shopify-hmac-sha256")
    else:
        expect_refused(c, r, 404, "not_configured")
    unchanged(live, c, before, "a forged Shopify delivery")


@attack("webhook", "standard webhooks wrong signature", "webhook-signature under another key")
def _standard(live: LiveService, c: Checks) -> None:
    before = snapshot(live)
    body = json.dumps(event(live, "sec-standard")).encode()
    wrong = "whsec_" + base64.b64encode(b"another-standard-webhooks-key-32").decode()
    headers = standard_webhooks.sign(
        body, wrong, "sec-standard-msg-1", int(live.clock.now().timestamp())
    )
    r = live.post_raw("/webhooks/standard", body, headers)
    if live.settings.standard_webhooks_secrets:
        expect_refused(c, r, 401, "bad_signature")
    else:
        expect_refused(c, r, 404, "not_configured")
    unchanged(live, c, before, "a forged Standard Webhooks delivery")


# ---- unsubscribe -------------------------------------------------------------------------------


def _subscribed_cart(live: LiveService, cart: str) -> str:
    r = live.post_event(event(live, cart))
    assert r.status_code == 200, f"setting up {cart}: {r.status_code} {r.text}"
    return f"{cart}@example.com"


@attack("unsubscribe", "forged token", "a token signed with another key unsubscribes nobody")
def _unsub_forged(live: LiveService, c: Checks) -> None:
    address = _subscribed_cart(live, "sec-unsub-forged")
    before = snapshot(live)
    for token in (
        forged_serializer("cart-recovery.unsubscribe").dumps(address),
        "forged-token",
    ):
        page = live.http.get(f"/u/{token}")
        c.expect(page.status_code == 404, f"GET answered {page.status_code}")
        one_click = live.http.post(
            f"/u/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        c.expect(one_click.status_code == 404, f"one-click answered {one_click.status_code}")
        form = live.http.post(f"/u/{token}", content=b"")
        c.expect(form.status_code == 404, f"form POST answered {form.status_code}")
    c.expect(not live.rt.store.is_unsubscribed(address), "a forged token unsubscribed")
    unchanged(live, c, before, "a forged unsubscribe")
    c.note("404 for GET, one-click and form POST")


@attack("unsubscribe", "altered token", "a valid token with one character changed")
def _unsub_altered(live: LiveService, c: Checks) -> None:
    address = _subscribed_cart(live, "sec-unsub-altered")
    token = str(live.rt.tokens.unsubscribe(address))
    payload, _dot, signature = token.rpartition(".")
    before = snapshot(live)
    for bad in (altered(token, 0), altered(token, len(payload) + 1 + len(signature) // 2)):
        r = live.http.post(
            f"/u/{bad}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        c.expect(r.status_code == 404, f"an altered token answered {r.status_code}")
    c.expect(not live.rt.store.is_unsubscribed(address), "an altered token unsubscribed")
    unchanged(live, c, before, "an altered unsubscribe token")
    c.note("404 for a changed payload and a changed signature character")


@attack("unsubscribe", "token of A for address B", "A's token never unsubscribes B")
def _unsub_other(live: LiveService, c: Checks) -> None:
    a = _subscribed_cart(live, "sec-unsub-a")
    b = _subscribed_cart(live, "sec-unsub-b")
    token = live.rt.tokens.unsubscribe(a)
    r = live.http.post(
        f"/u/{token}?email={b}",
        data={"email": b, "List-Unsubscribe": "One-Click"},
    )
    c.expect(r.status_code == 200, f"A's own unsubscribe answered {r.status_code}")
    c.expect(live.rt.store.is_unsubscribed(a), "A was not unsubscribed by A's token")
    c.expect(not live.rt.store.is_unsubscribed(b), "A's token unsubscribed B")
    c.note("only the address in the token was unsubscribed")


@attack(
    "unsubscribe",
    "address probing",
    "an address with no carts answers exactly like one with carts",
)
def _unsub_probe(live: LiveService, c: Checks) -> None:
    known = _subscribed_cart(live, "sec-probe-known")
    unknown = "sec-probe-nobody@example.com"
    answers: dict[str, list[tuple[int, str]]] = {}
    for address in (known, unknown):
        token = live.rt.tokens.unsubscribe(address)
        seen = []
        page = live.http.get(f"/u/{token}")
        form = live.http.post(f"/u/{token}", content=b"")
        again = live.http.post(
            f"/u/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        for r in (page, form, again):
            seen.append((r.status_code, r.text.replace(token, "<token>")))
        answers[address] = seen
    for step, (k, u) in enumerate(zip(answers[known], answers[unknown], strict=True)):
        c.expect(k[0] == u[0], f"step {step}: status {k[0]} for a known address, {u[0]} not")
        c.expect(k[1] == u[1], f"step {step}: the page differs between known and unknown")
        c.expect(known not in k[1], f"step {step}: the page names the address")
    c.note("same status and text for GET, form POST and one-click")


@attack("unsubscribe", "GET unsubscribes", "a GET (mail scanner prefetch) never unsubscribes")
def _unsub_get(live: LiveService, c: Checks) -> None:
    address = _subscribed_cart(live, "sec-unsub-get")
    token = live.rt.tokens.unsubscribe(address)
    before = snapshot(live)
    for path in (f"/u/{token}", f"/u/{token}?List-Unsubscribe=One-Click"):
        r = live.http.get(path)
        c.expect(r.status_code == 200 and "<form" in r.text, f"GET answered {r.status_code}")
        head = live.http.head(path)
        c.expect(head.status_code in (200, 405), f"HEAD answered {head.status_code}")
    c.expect(not live.rt.store.is_unsubscribed(address), "a GET unsubscribed")
    unchanged(live, c, before, "a GET of the unsubscribe link")
    c.note("GET shows the confirm form only")


@attack("unsubscribe", "token of another kind", "a return-link token used as unsubscribe token")
def _unsub_cross_kind(live: LiveService, c: Checks) -> None:
    address = _subscribed_cart(live, "sec-unsub-kind")
    before = snapshot(live)
    foreign = [
        live.rt.tokens.return_link(address, 1),
        live.rt.tokens.action("unsubscribe", address),
    ]
    for token in foreign:
        r = live.http.post(
            f"/u/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        c.expect(r.status_code == 404, f"a foreign token answered {r.status_code}")
    c.expect(not live.rt.store.is_unsubscribed(address), "a foreign token unsubscribed")
    unchanged(live, c, before, "a foreign token")
    c.note("404 for return-link and action-link tokens")


# ---- owner -------------------------------------------------------------------------------------


def _open_cart(live: LiveService, cart: str) -> None:
    r = live.post_event(event(live, cart))
    assert r.status_code == 200, f"setting up {cart}: {r.status_code} {r.text}"


@attack("owner", "forged action link", "/a/<forged> neither confirms nor acts")
def _action_forged(live: LiveService, c: Checks) -> None:
    _open_cart(live, "sec-action-forged")
    before, state = snapshot(live), cart_state(live, "sec-action-forged")
    forged = URLSafeTimedSerializer(WRONG_KEY, salt="cart-recovery.owner-action")
    tokens = [
        forged.dumps(["suppress", "sec-action-forged"]),
        live.rt.tokens.return_link("sec-action-forged", 1),
        altered(live.rt.tokens.action("suppress", "sec-action-forged"), 0),
    ]
    for token in tokens:
        page = live.http.get(f"/a/{token}")
        c.expect(page.status_code == 404, f"GET answered {page.status_code}")
        act = live.http.post(f"/a/{token}")
        c.expect(act.status_code == 404, f"POST answered {act.status_code}")
    unchanged(live, c, before, "a forged action link")
    c.expect(cart_state(live, "sec-action-forged") == state, "a forged link changed the cart")
    c.note("404 for forged, foreign and altered tokens")


@attack("owner", "expired action link", "a genuine link older than 14 days (virtual clock)")
def _action_expired(live: LiveService, c: Checks) -> None:
    _open_cart(live, "sec-action-expired")
    token = live.rt.tokens.action("suppress", "sec-action-expired")
    signed_at = datetime.fromtimestamp(time.time(), live.clock.now().tzinfo)
    fresh = live.http.get(f"/a/{token}")
    c.expect(fresh.status_code == 200, f"a fresh link answered {fresh.status_code}")
    later = max(live.clock.now(), signed_at) + timedelta(days=14, hours=1)
    live.advance(later)
    before, state = snapshot(live), cart_state(live, "sec-action-expired")
    page = live.http.get(f"/a/{token}")
    c.expect(page.status_code == 403, f"GET of an expired link answered {page.status_code}")
    act = live.http.post(f"/a/{token}")
    c.expect(act.status_code == 403, f"POST of an expired link answered {act.status_code}")
    unchanged(live, c, before, "an expired action link")
    c.expect(cart_state(live, "sec-action-expired") == state, "an expired link changed the cart")
    c.note("fresh 200, after 14 days 403 for GET and POST")


@attack("owner", "logged-out dashboard", "/admin/ pages redirect to login, the API answers 401")
def _admin_logged_out(live: LiveService, c: Checks) -> None:
    _open_cart(live, "sec-admin-out")
    visitor = client(live)
    before, state = snapshot(live), cart_state(live, "sec-admin-out")
    try:
        for path in ("/admin/", "/admin/carts/sec-admin-out", "/admin/privacy"):
            r = visitor.get(path)
            loc = r.headers.get("location", "")
            c.expect(
                r.status_code in (302, 303, 307) and loc.startswith("/admin/login"),
                f"GET {path} answered {r.status_code} {loc!r}",
            )
            c.expect("sec-admin-out@example.com" not in r.text, f"GET {path} leaked the cart")
        for path in ("/admin/api/carts", "/admin/api/carts/sec-admin-out"):
            r = visitor.get(path)
            c.expect(r.status_code == 401, f"GET {path} answered {r.status_code}")
            c.expect("sec-admin-out@example.com" not in r.text, f"GET {path} leaked the cart")
        r = visitor.get("/admin/api/carts", headers={"Authorization": "Bearer not-the-token"})
        c.expect(r.status_code == 401, f"a wrong bearer token answered {r.status_code}")
        r = visitor.post("/admin/actions/suppress", data={"cart": "sec-admin-out"})
        c.expect(
            r.status_code in (302, 303, 401, 403),
            f"a logged-out action answered {r.status_code}",
        )
    finally:
        visitor.close()
    unchanged(live, c, before, "a logged-out visitor")
    c.expect(cart_state(live, "sec-admin-out") == state, "a logged-out visitor changed the cart")
    c.note("pages 303 to /admin/login, API 401")


@attack("owner", "wrong admin token", "a login with a wrong token is refused")
def _admin_wrong_token(live: LiveService, c: Checks) -> None:
    visitor = client(live)
    try:
        page = visitor.get("/admin/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        c.expect(csrf is not None, "no CSRF field on the login page")
        r = visitor.post(
            "/admin/login",
            data={"csrf": csrf.group(1) if csrf else "", "token": "not-the-admin-token"},
        )
        c.expect(r.status_code == 401, f"a wrong token answered {r.status_code}")
        home = visitor.get("/admin/")
        c.expect(
            home.status_code == 303, f"after a wrong login /admin/ answered {home.status_code}"
        )
    finally:
        visitor.close()
    c.note("401, still logged out")


@attack("owner", "action without CSRF", "a logged-in POST without (or with a wrong) CSRF token")
def _admin_csrf(live: LiveService, c: Checks) -> None:
    _open_cart(live, "sec-admin-csrf")
    owner = logged_in(live)
    before, state = snapshot(live), cart_state(live, "sec-admin-csrf")
    try:
        for form in (
            {"cart": "sec-admin-csrf"},
            {"cart": "sec-admin-csrf", "csrf": "x" * 43},
        ):
            r = owner.post("/admin/actions/suppress", data=form)
            c.expect(r.status_code == 403, f"a POST without CSRF answered {r.status_code}")
        r = owner.post("/admin/actions/unsubscribe", data={"email": "sec-admin-csrf@example.com"})
        c.expect(r.status_code == 403, f"an unsubscribe without CSRF answered {r.status_code}")
    finally:
        owner.close()
    unchanged(live, c, before, "a POST without CSRF")
    c.expect(cart_state(live, "sec-admin-csrf") == state, "a POST without CSRF changed the cart")
    c.expect(
        not live.rt.store.is_unsubscribed("sec-admin-csrf@example.com"),
        "a POST without CSRF unsubscribed",
    )
    c.note("403 and nothing changed")


# ---- the return link ---------------------------------------------------------------------------


@attack("return link", "open redirect", "?next=https://evil.example never leaves the stored URL")
def _open_redirect(live: LiveService, c: Checks) -> None:
    mailed(live)
    messages = mail_to(live, "sec-return@example.com")
    c.expect(bool(messages), "no reminder was sent to test the return link")
    if not messages:
        return
    found = re.search(r'href="[^"]*?(/r/[^"?#]+)"', html_of(messages[0]))
    c.expect(found is not None, "no /r/ link in the reminder")
    if found is None:
        return
    path = found.group(1)
    stored = "https://shop.example/cart/sec-return"
    for query in (
        "?next=https://evil.example",
        "?url=https://evil.example&return_url=https://evil.example",
        "?next=//evil.example",
    ):
        r = live.http.get(path + query, follow_redirects=False)
        loc = r.headers.get("location")
        c.expect(r.status_code == 303 and loc == stored, f"{query}: {r.status_code} {loc!r}")
    c.note(f"always 303 to {stored}")


@attack("return link", "forged token", "a forged /r/ token redirects nowhere and records nothing")
def _return_forged(live: LiveService, c: Checks) -> None:
    _open_cart(live, "sec-return-forged")
    before = snapshot(live)
    tokens = [
        "forged-token",
        forged_serializer("cart-recovery.return").dumps(["sec-return-forged", 1]),
        live.rt.tokens.unsubscribe("sec-return-forged@example.com"),
        altered(live.rt.tokens.return_link("sec-return-forged", 1), 0),
    ]
    for token in tokens:
        r = live.http.get(f"/r/{token}?next=https://evil.example", follow_redirects=False)
        c.expect(r.status_code == 404, f"a forged /r/ answered {r.status_code}")
        c.expect("location" not in r.headers, f"a forged /r/ redirected to {r.headers}")
    unchanged(live, c, before, "a forged return link")
    c.note("404, no Location, no click recorded")


# ---- injection ---------------------------------------------------------------------------------


def _xss_html(live: LiveService, c: Checks) -> str:
    answers = mailed(live)["answers"]
    ingest = answers["sec-xss"]
    c.expect(ingest.status_code == 200, f"the markup cart was refused: {ingest.status_code}")
    messages = mail_to(live, "sec-xss@example.com")
    c.expect(bool(messages), "no reminder was sent for the markup cart")
    return "\n".join(html_of(m) for m in messages)


@attack("injection", "script in item title (email)", "escaped in the reminder's HTML part")
def _xss_email_title(live: LiveService, c: Checks) -> None:
    html = _xss_html(live, c)
    c.expect(SCRIPT not in html, "the raw <script> title is in the email HTML")
    c.expect(not re.search(r"<script", html, re.I), "a <script> tag is in the email HTML")
    c.expect("&lt;script&gt;" in html, "the escaped title is not in the email HTML")
    c.note("rendered as &lt;script&gt;")


@attack("injection", "markup in name and title (email)", "an <img onerror> stays text")
def _xss_email_name(live: LiveService, c: Checks) -> None:
    html = _xss_html(live, c)
    c.expect(IMG not in html, "the raw <img onerror> payload is in the email HTML")
    c.expect(not re.search(r"<img[^>]*onerror", html, re.I), "an <img onerror> tag is in the HTML")
    c.note("no <img onerror> tag in the HTML part")


@attack("injection", "markup in name and title (dashboard)", "the cart page escapes both")
def _xss_dashboard(live: LiveService, c: Checks) -> None:
    mailed(live)
    owner = logged_in(live)
    try:
        page = owner.get("/admin/carts/sec-xss")
        api = owner.get("/admin/api/carts/sec-xss")
    finally:
        owner.close()
    c.expect(page.status_code == 200, f"the cart page answered {page.status_code}")
    html = page.text
    c.expect(SCRIPT not in html and IMG not in html, "a raw payload is in the cart page")
    c.expect(not re.search(r"<script", html, re.I), "a <script> tag is in the cart page")
    c.expect(not re.search(r"<img[^>]*onerror", html, re.I), "an <img onerror> tag is on the page")
    c.expect("&lt;script&gt;alert(1)&lt;/script&gt;" in html, "the escaped title is not shown")
    c.expect("&lt;img src=x onerror=alert(1)&gt;" in html, "the escaped name is not shown")
    c.expect(
        "application/json" in api.headers.get("content-type", ""),
        f"the API answered {api.headers.get('content-type')}",
    )
    c.note("escaped in the cart page; the API answers JSON")


@attack("injection", "javascript: item links", "a javascript: item URL never becomes a link")
def _js_links(live: LiveService, c: Checks) -> None:
    answers = mailed(live)["answers"]
    ingest = answers["sec-jslink"]
    if ingest.status_code == 400:
        c.note(f"refused at the webhook: {error_of(ingest).get('field')}")
        return
    html = "\n".join(html_of(m) for m in mail_to(live, "sec-jslink@example.com"))
    c.expect(
        not re.search(r"(href|src)\s*=\s*[\"']?\s*javascript:", html, re.I),
        "a javascript: URL is a link or image in the email HTML",
    )
    owner = logged_in(live)
    try:
        page = owner.get("/admin/carts/sec-jslink").text
    finally:
        owner.close()
    c.expect(
        not re.search(r"(href|src)\s*=\s*[\"']?\s*javascript:", page, re.I),
        "a javascript: URL is a link or image on the dashboard cart page",
    )
    c.note("accepted, but never rendered as a link")


@attack("injection", "CR/LF in name (email headers)", "no Bcc and exactly one To in the email")
def _crlf(live: LiveService, c: Checks) -> None:
    answers = mailed(live)["answers"]
    ingest = answers["sec-crlf"]
    if ingest.status_code == 400:
        c.note(f"refused at the webhook: {error_of(ingest).get('field')}")
        return
    c.expect(ingest.status_code == 200, f"the CR/LF cart answered {ingest.status_code}")
    for message, (_from, rcpts) in zip(live.inbox.messages, live.inbox.envelopes, strict=True):
        c.expect("victim@example.com" not in rcpts, f"the SMTP envelope went to {rcpts}")
        c.expect(message.get_all("Bcc") is None, "an email carries a Bcc header")
        c.expect(len(message.get_all("To") or []) <= 1, "an email carries several To headers")
    mine = mail_to(live, "sec-crlf@example.com")
    c.expect(bool(mine), "no reminder was sent for the CR/LF cart")
    for message in mine:
        to = message.get_all("To") or []
        c.expect(len(to) == 1, f"To headers: {to!r}")
        c.expect("victim" not in str(message.get("To", "")).split("<")[-1], f"To is {to!r}")
        raw = message.as_bytes()
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        c.expect(
            not re.search(rb"^bcc:", head, re.I | re.M),
            "a Bcc line is in the raw headers",
        )
    c.note(f"{len(mine)} reminder(s), one To each, no Bcc")


# ---- the owner's docs --------------------------------------------------------------------------


@attack("docs", "invalid rules edit", "a bad rules.txt is rejected; the last good rules serve")
def _bad_rules(live: LiveService, c: Checks) -> None:
    docs = live.rt.docs
    path = live.settings.rules_file
    good = docs.rules()
    original = path.read_text(encoding="utf-8")
    stat = path.stat()
    try:
        path.write_text(
            "Wait for small carts: banana\nfrobnicate everything\n<script>x</script>\n",
            encoding="utf-8",
        )
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
        c.expect(docs.rules() == good, "the rules changed after an invalid edit")
        c.expect(docs.rules_doc.last_error is not None, "the invalid edit was not reported")
        health = live.http.get("/healthz")
        c.expect(health.status_code == 200, f"/healthz answered {health.status_code}")
        r = live.post_event(event(live, "sec-rules"))
        c.expect(r.status_code == 200, f"an event after the bad edit answered {r.status_code}")
    finally:
        path.write_text(original, encoding="utf-8")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000_000))
    c.expect(docs.rules() == good, "the restored rules differ")
    c.note("rejected, last good rules kept serving")


# ---- secrets -----------------------------------------------------------------------------------


def secrets_of(live: LiveService) -> dict[str, str]:
    from tests.e2e.harness import OLD_SECRET, SECRET, SHOPIFY_SECRET, STANDARD_SECRET

    s = live.settings
    found = {
        "webhook secret": SECRET,
        "old webhook secret": OLD_SECRET,
        "shopify secret": SHOPIFY_SECRET,
        "standard webhooks secret": STANDARD_SECRET,
        "standard webhooks key": base64.b64decode(STANDARD_SECRET[6:]).decode(),
        "signing key": s.signing_key,
        "admin token": s.admin_token,
    }
    for i, secret in enumerate(s.webhook_secrets):
        found[f"webhook_secrets[{i}]"] = secret
    return {name: value for name, value in found.items() if value}


@attack("secrets", "secrets in logs and answers", "no secret in any log record or HTTP answer")
def _secrets(live: LiveService, c: Checks) -> None:
    rec = recorder_of(live)
    c.expect(bool(rec.responses), "no HTTP answers were recorded")
    secrets = secrets_of(live)
    for name, value in secrets.items():
        in_logs = sum(value in r for r in rec.records)
        in_answers = sum(value in r for r in rec.responses)
        c.expect(in_logs == 0, f"the {name} is in {in_logs} log record(s)")
        c.expect(in_answers == 0, f"the {name} is in {in_answers} HTTP answer(s)")
    c.note(
        f"{len(secrets)} secrets absent from {len(rec.records)} log records "
        f"and {len(rec.responses)} HTTP answers"
    )


# ---- running ------------------------------------------------------------------------------------

WATCHED_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "cart_recovery")


@contextlib.contextmanager
def recording(live: LiveService) -> Iterator[None]:
    """Inside the block, every log record and HTTP answer of ``live`` is recorded for the
    secrets check (which must run last, after the attacks whose traces it reads)."""
    rec = recorder_of(live)
    handler = _Capture(rec)
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        if lg.propagate is False or lg is logging.getLogger():
            lg.addHandler(handler)
    logging.getLogger().setLevel(min(levels[0] or logging.WARNING, logging.INFO))
    logging.getLogger("cart_recovery").setLevel(logging.DEBUG)  # every record of the service
    hooks = live.http.event_hooks
    live.http.event_hooks = {**hooks, "response": [*hooks["response"], rec.on_response]}
    try:
        yield
    finally:
        live.http.event_hooks = hooks
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


def run_all(live: LiveService) -> list[Outcome]:
    """Every attack in catalog order, with every log record and HTTP answer recorded (the
    secrets check, last, reads them)."""
    with recording(live):
        return [entry(live) for entry in CATALOG]


def report(outcomes: list[Outcome]) -> dict[str, Any]:
    """The figures for the docs (``test-output/attacks.json``): attacks tried, refused, each."""
    return {
        "attacks": len(outcomes),
        "refused": sum(o.refused for o in outcomes),
        "outcomes": [{"name": o.name, "refused": o.refused, "detail": o.detail} for o in outcomes],
    }


def table(outcomes: list[Outcome]) -> str:
    width = max((len(o.name) for o in outcomes), default=10)
    return "\n".join(
        f"{o.name:<{width}}  {'refused' if o.refused else 'NOT REFUSED'}  {o.detail}"
        for o in outcomes
    )


__all__ = ["CATALOG", "Attack", "Outcome", "recording", "report", "run_all", "table"]
