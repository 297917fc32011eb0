"""Fuzzing the public contract: a schemathesis run of the OpenAPI document against the running
app (uvicorn on 127.0.0.1), every operation, schema-valid and schema-violating inputs.

Every generated request is sent as generated (its signature headers are whatever schemathesis
made up) and, for the webhooks, once more signed with the real secret, so the checks reach the
parsers and the store and not only the signature gate. After each request:

- no 5xx, and the answer conforms to the document (status code, content type, JSON schema);
- nothing is stored (carts, events, audit, sends, timers, unsubscribes) unless the request was
  validly signed, was answered ``accepted``, and its event is valid under the JSON Schema.

Finally the clock runs ten days on, so that everything the fuzz got accepted is reminded and
closed by the real timer loop, without an error.

The budget is a few thousand cases (``CART_RECOVERY_FUZZ_EXAMPLES`` per webhook and mode,
default 250, a quarter of that for each other operation) on a fixed seed
(``CART_RECOVERY_FUZZ_SEED`` varies it)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cart_recovery import contract
from cart_recovery.adapters.storefronts import generic, shopify, standard_webhooks
from tests.e2e.harness import SECRET, SHOPIFY_SECRET, STANDARD_SECRET, LiveService

pytestmark = pytest.mark.e2e

START = datetime(2026, 5, 12, 10, 0, tzinfo=ZoneInfo("America/New_York"))
EXAMPLES = int(os.environ.get("CART_RECOVERY_FUZZ_EXAMPLES", "250"))
OTHER_EXAMPLES = max(EXAMPLES // 4, 20)  # the other endpoints have far less input to vary
SEED = int(os.environ.get("CART_RECOVERY_FUZZ_SEED", "20260512"))
TABLES = ("carts", "events", "audit", "sends", "timers", "unsubscribes")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SHOPIFY_TOPICS = ("checkouts/create", "checkouts/update", "orders/create")

DOC = contract.openapi()
SCHEMA = schemathesis.openapi.from_dict(DOC)


def operation(
    result: Ok[APIOperation[Any, Any, Any, Any]] | Err[InvalidSchema],
) -> APIOperation[Any, Any, Any, Any]:
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


OPERATIONS = {
    (op.method.upper(), op.path): op for op in map(operation, SCHEMA.get_all_operations())
}
EVENT = jsonschema_rs.validator_for(contract.cart_event_schema(), validate_formats=False)


def _component(name: str) -> Any:
    spec = {**DOC["components"]["schemas"][name], "$defs": {}}
    text = json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema", **spec})
    text = text.replace("#/components/schemas/Item", "#/$defs/Item")
    schema = json.loads(text)
    schema["$defs"]["Item"] = DOC["components"]["schemas"]["Item"]
    return jsonschema_rs.validator_for(schema, validate_formats=False)


STANDARD_EVENT = _component("StandardCartEvent")
STANDARD_ENVELOPE = _component("StandardEnvelope")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    # No timer loop in the background: every row written during the fuzz is the request's.
    service = LiveService(tmp_path_factory.mktemp("fuzz") / "data", START, run_timers=False)
    yield service
    service.close()


def counts(live: LiveService) -> dict[str, int]:
    return {t: live.rt.store.count(t) for t in TABLES}


class Unsendable(Exception):
    """A generated request that no HTTP client can put on the wire (e.g. a newline in a
    header value): not a case for the server."""


def send(live: LiveService, case: Any, sign: Callable[[bytes], dict[str, str]] | None) -> Any:
    kw = case.as_transport_kwargs(base_url=f"http://127.0.0.1:{live.port}")
    headers = {
        k: v
        for k, v in (kw.get("headers") or {}).items()
        if k.lower() not in {"content-length", "host", "transfer-encoding", "connection"}
    }
    if "json" in kw:
        body = json.dumps(kw["json"]).encode()
    else:
        data = kw.get("data")
        if isinstance(data, dict):
            body = httpx.QueryParams(data).__str__().encode()
        elif isinstance(data, str):
            body = data.encode()
        else:
            body = data or b""
    if sign is not None:
        signed = sign(body)
        lower = {k.lower() for k in signed}
        headers = {k: v for k, v in headers.items() if k.lower() not in lower} | signed
    try:
        request = live.http.build_request(
            kw["method"],
            urlsplit(kw["url"]).path,
            params=kw.get("params") or None,
            headers=headers,
            content=body,
        )
    except (httpx.HTTPError, UnicodeError, ValueError, TypeError) as e:
        raise Unsendable(str(e)) from e
    try:
        return live.http.send(request)
    except httpx.LocalProtocolError as e:
        raise Unsendable(str(e)) from e


def signer(live: LiveService, path: str, case: Any) -> Callable[[bytes], dict[str, str]] | None:
    now = int(live.clock.now().timestamp())
    if path == "/webhooks/cart":
        return lambda body: generic.sign(body, SECRET, now)
    if path == "/webhooks/shopify":
        generated = (case.headers or {}).get("X-Shopify-Topic")
        pick = len(str(case.body)) % (len(SHOPIFY_TOPICS) + 1)
        topic = SHOPIFY_TOPICS[pick] if pick < len(SHOPIFY_TOPICS) else generated
        return lambda body: {
            **shopify.sign(body, SHOPIFY_SECRET),
            **({"X-Shopify-Topic": topic} if isinstance(topic, str) and topic.isascii() else {}),
        }
    if path == "/webhooks/standard":
        msg_id = (case.headers or {}).get("webhook-id")
        if not (isinstance(msg_id, str) and msg_id.isascii() and msg_id.isprintable() and msg_id):
            msg_id = f"msg_{abs(hash(str(case.body))) % 10**12}"

        def sign_standard(body: bytes) -> dict[str, str]:
            try:
                return standard_webhooks.sign(body, STANDARD_SECRET, msg_id, now)
            except UnicodeDecodeError:
                return {"webhook-id": msg_id, "webhook-timestamp": str(now)}

        return sign_standard
    return None


def stored_events(live: LiveService, cart_id: str) -> list[Any]:
    """The events the store recorded for a cart, as stored (read with a separate connection)."""
    with sqlite3.connect(live.settings.database) as db:
        rows = db.execute("SELECT data FROM events WHERE cart_id = ?", (cart_id,)).fetchall()
    return [json.loads(r[0]) for r in rows]


def valid_event(path: str, body: bytes) -> bool:
    """Whether an accepted body is a valid event under the contract."""
    try:
        value = json.loads(body)
    except ValueError:
        return False
    if path == "/webhooks/cart":
        return bool(EVENT.is_valid(value))
    if path == "/webhooks/standard":
        return bool(STANDARD_EVENT.is_valid(value) or STANDARD_ENVELOPE.is_valid(value))
    return True  # Shopify's payload is Shopify's; the event it became is checked below


def check(live: LiveService, path: str, case: Any) -> None:
    for sign in (None, signer(live, path, case)):
        before = counts(live)
        try:
            response = send(live, case, sign)
        except Unsendable:
            return
        after = counts(live)
        assert response.status_code < 500, (response.status_code, response.text)
        case.validate_response(response, checks=CHECKS)
        stored = after != before
        if path.startswith("/webhooks/"):
            answer = response.json()
            if sign is None:
                assert not stored, ("unsigned input stored rows", answer)
            if stored:
                assert response.status_code == 200 and answer["status"] == "accepted", answer
                assert valid_event(path, response.request.content), response.request.content
                cart_id = answer.get("cart_id") or json.loads(response.request.content)["cart_id"]
                for event in stored_events(live, cart_id):
                    assert EVENT.is_valid(event), event
            if response.status_code != 200 or answer["status"] != "accepted":
                assert not stored, answer
        else:
            assert not stored, (path, response.status_code)
        if sign is None and not path.startswith("/webhooks/"):
            return  # nothing to sign


def served(live: LiveService, method: str, path: str) -> bool:
    """Whether this build of the app has a route for the operation (the owner's routes are
    documented ahead of being wired in)."""
    from starlette.routing import Match

    concrete = re.sub(r"\{[^}]+\}", "x", path)
    scope = {"type": "http", "path": concrete, "method": method, "root_path": ""}
    return any(r.matches(scope)[0] is Match.FULL for r in live.rt.app.routes) or any(
        r.matches(scope)[0] is not Match.NONE and getattr(r, "routes", None)
        for r in live.rt.app.routes
    )


def run_operation(
    live: LiveService, method: str, path: str, mode: GenerationMode, examples: int = EXAMPLES
) -> int:
    op = OPERATIONS[(method, path)]
    if not served(live, method, path):
        pytest.skip(f"{method} {path} is documented but not served by this build")
    ran = 0

    @seed(SEED)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        nonlocal ran
        ran += 1
        CASES[f"{method} {path} {mode}"] = CASES.get(f"{method} {path} {mode}", 0) + 1
        check(live, path, case)

    try:
        fuzz()
    except Unsatisfiable:
        # Some operations leave no room for schema-violating input (e.g. a form whose fields
        # are all optional strings): nothing negative to send there.
        if mode is not GenerationMode.NEGATIVE:
            raise
    return ran


CASES: dict[str, int] = {}  # operation and mode → cases run (written to test-output/fuzz.json)


@pytest.fixture(autouse=True, scope="module")
def _report_cases() -> Iterator[None]:
    yield
    out = Path("test-output")
    out.mkdir(exist_ok=True)
    report = {"cases": sum(CASES.values()), "by_operation": dict(sorted(CASES.items()))}
    (out / "fuzz.json").write_text(json.dumps(report, indent=2) + "\n")


WEBHOOKS = [("POST", p) for p in ("/webhooks/cart", "/webhooks/shopify", "/webhooks/standard")]
OTHERS = [key for key in OPERATIONS if key not in WEBHOOKS]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("method", "path"), WEBHOOKS, ids=lambda v: v)
def test_webhooks_under_fuzzing(
    live: LiveService, method: str, path: str, mode: GenerationMode
) -> None:
    ran = run_operation(live, method, path, mode)
    assert ran >= min(EXAMPLES, 50)


@pytest.mark.parametrize(("method", "path"), OTHERS, ids=lambda v: v)
def test_other_endpoints_under_fuzzing(live: LiveService, method: str, path: str) -> None:
    run_operation(live, method, path, GenerationMode.POSITIVE, OTHER_EXAMPLES)
    op = OPERATIONS[(method, path)]
    if op.path_parameters or op.body or op.query:
        run_operation(live, method, path, GenerationMode.NEGATIVE, OTHER_EXAMPLES)


def test_what_the_fuzz_got_accepted_is_reminded_and_closed_without_error(
    live: LiveService,
) -> None:
    # Given everything the fuzz got accepted, when the clock runs ten days on through the real
    # timer loop's steps (the same code the background loop runs), then no wake-up fails
    carts = live.rt.store.count("carts")
    end = live.clock.now() + timedelta(days=10)
    fired = 0
    while (due := live.rt.store.next_due()) is not None and due <= end:
        live.clock.set(max(due, live.clock.now()))
        fired += len(live.rt.loop.run_due(live.clock.now()))  # raises on a failing wake-up
    assert live.http.get("/healthz").json()["pending_wakeups"] == 0
    assert carts == live.rt.store.count("carts")
    assert 'cart_recovery_errors_total{where="wakeup"} 0.0' in live.http.get("/metrics").text
    assert carts > 0 and fired > 0  # the fuzz did get valid, signed events through


def test_the_served_contract_is_the_one_in_the_repo(live: LiveService) -> None:
    served = live.http.get("/openapi.json")
    assert served.status_code == 200 and served.json() == DOC
    schema = live.http.get("/schemas/cart-event.json")
    assert schema.headers["content-type"].startswith("application/schema+json")
    assert schema.json() == contract.cart_event_schema()
    path = Path(contract.__file__).parent / "openapi.json"
    assert json.loads(path.read_text()) == DOC
