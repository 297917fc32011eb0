"""The line writers over real HTTP: the Anthropic API and Amazon Bedrock, each through its real
SDK against a fake model server on 127.0.0.1, alone and inside the service's reminder.

Whatever the model does (answers well, slowly, with an error, with garbage, or with a line that
breaks a rule) the reminder goes out on time; only a good answer changes it, and then only its
opening line.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from markupsafe import escape

from cart_recovery.adapters.llm import (
    DEFAULT_BEDROCK_MODEL,
    AnthropicLines,
    BedrockLines,
    MissingExtra,
    ModelLines,
    TemplateLines,
    make_line_writer,
)
from cart_recovery.adapters.mail import MemoryMailer
from cart_recovery.adapters.memory import MemoryStore
from cart_recovery.bootstrap.embedded import embedded, init_data_dir, line_writer_config
from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.config.settings import SettingsError, load_settings
from cart_recovery.domain.lines import Prompt
from cart_recovery.domain.model import Item
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.embedded.logs import JsonFormatter
from cart_recovery.ports import LineWriter
from cart_recovery.service import Sent
from cart_recovery.simulation.replay import Replay
from tests.conftest import make_event
from tests.fakes.model_server import FakeModelServer, Reply, refused_url, running

NY = ZoneInfo("America/New_York")
START = datetime(2026, 5, 12, 10, 0, tzinfo=NY)  # a Tuesday morning
DUE = datetime(2026, 5, 12, 12, 0, tzinfo=NY)  # a $120 cart: the first reminder after 2 hours
PLAIN = "Still thinking it over? Your cart's still here."  # the default voice's first opening
GOOD = "Your linen shirt, beeswax candles and canvas tote are right where you left them."
KEY = "sk-ant-test-0123456789-not-a-real-key"
ITEMS = (
    Item(title="Linen shirt", quantity=1, unit_price=Decimal("68.00")),
    Item(title="Beeswax candle", quantity=2, unit_price=Decimal("18.00")),
    Item(title="Canvas tote", quantity=1, unit_price=Decimal("16.00")),
)
PROVIDERS = ["anthropic", "bedrock"]


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with running() as fake:
        yield fake


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy AWS credentials and no route to any real endpoint or credential source."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        "AWS_BEARER_TOKEN_BEDROCK",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


Writers = Callable[..., ModelLines]


@pytest.fixture
def make_writer() -> Iterator[Writers]:
    """Builds writers pointed at a URL, and closes them (their connection pools) afterwards."""
    made: list[ModelLines] = []

    def make(provider: str, url: str, timeout: float = 3.0) -> ModelLines:
        writer: ModelLines
        if provider == "anthropic":
            writer = AnthropicLines(api_key=KEY, base_url=url, timeout=timeout)
        else:
            session = boto3.session.Session(
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name="us-east-1",
            )
            writer = BedrockLines(
                region="us-east-1", endpoint_url=url, timeout=timeout, session=session
            )
        made.append(writer)
        return writer

    yield make
    for writer in made:
        writer.close()


class Shop:
    """A service on a virtual clock with one $120 cart, built around the given line writer."""

    def __init__(self, lines: LineWriter) -> None:
        self.store = MemoryStore()
        self.mailer = MemoryMailer()
        self.clock = VirtualClock(START)
        self.service = in_memory(
            store=self.store,
            mailer=self.mailer,
            signing_key="test-signing-key-0123456789",
            lines=lines,
        )
        self.replay = Replay(self.service, self.store, self.clock)

    def remind(self) -> tuple[Sent, EmailMessage]:
        """Feed the cart, run the clock past the first reminder: what was sent, and when."""
        self.replay.feed([make_event(occurred_at=START, timezone="America/New_York", items=ITEMS)])
        self.replay.run_until(datetime(2026, 5, 12, 13, 0, tzinfo=NY))
        [sent] = [h for h in self.replay.happenings if isinstance(h, Sent)]
        [message] = self.mailer.sent
        return sent, message


def parts(message: EmailMessage) -> tuple[str, str]:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def fallbacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cart_recovery.lines"]


@pytest.fixture(scope="module")
def plain_reminder() -> tuple[Sent, EmailMessage]:
    """The same reminder with the owner's plain line: what every fallback must equal."""
    return Shop(TemplateLines()).remind()


# ---- end to end: the reminder -------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_good_answer_changes_only_the_opening_line(
    provider: str,
    server: FakeModelServer,
    make_writer: Writers,
    plain_reminder: tuple[Sent, EmailMessage],
) -> None:
    # Given a model that answers with a line that keeps every rule
    server.reply = Reply.good(GOOD)
    plain_sent, plain_message = plain_reminder
    # When the cart's first reminder falls due
    sent, message = Shop(make_writer(provider, server.url)).remind()
    # Then it goes out at the same virtual time as the plain one
    assert sent.at == plain_sent.at == DUE
    # And the two emails differ only in the opening line, in both parts
    text, html = parts(message)
    plain_text, plain_html = parts(plain_message)
    assert text.count(GOOD) == 1 and PLAIN not in text
    assert text.replace(GOOD, PLAIN) == plain_text
    assert html.count(str(escape(GOOD))) == 2  # the preheader and the paragraph
    assert html.replace(str(escape(GOOD)), str(escape(PLAIN))) == plain_html
    for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe"):
        assert message[header] == plain_message[header]
    # And the items, the total and the links are all there, untouched
    for needle in (
        "1 × Linen shirt — $68.00",
        "2 × Beeswax candle — $36.00 ($18.00 each)",
        "1 × Canvas tote — $16.00",
        "Total: $120.00",
        "https://shop.example/r/",
        "https://shop.example/u/",
    ):
        assert needle in text
    # And the model was asked once, about this cart
    [asked] = server.requests
    prompt = json.dumps(asked.body)
    assert all(item.title in prompt for item in ITEMS)
    assert "cart's still here" in prompt


FAILURES = [
    pytest.param(Reply.error(500), "http_error", id="500"),
    pytest.param(Reply.error(429), "http_error", id="429"),
    pytest.param(Reply.garbage(), "bad_answer:malformed", id="malformed-json"),
    pytest.param(Reply.not_a_message(), "bad_answer:malformed", id="wrong-shape"),
    pytest.param(
        Reply.good("Your linen shirt is still here, and it's only $68 today."),
        "bad_answer:price",
        id="price",
    ),
    pytest.param(
        Reply.good("Your linen shirt is waiting at https://shop.example/cart/c1 for you."),
        "bad_answer:link",
        id="link",
    ),
    pytest.param(
        Reply.good(
            "Your linen shirt is waiting. The candles are too. We would love to see you back!"
        ),
        "bad_answer:sentences",
        id="paragraph",
    ),
    pytest.param(
        Reply.good("Your cart misses you.\nCome back to Linen & Light."),
        "bad_answer:newline",
        id="newline",
    ),
    pytest.param(Reply.good('"Your linen shirt is waiting."'), "bad_answer:quotes", id="quotes"),
    pytest.param(Reply.good("**Your linen shirt** is waiting."), "bad_answer:markup", id="md"),
    pytest.param(Reply.good("<p>Your linen shirt is waiting.</p>"), "bad_answer:markup", id="html"),
    pytest.param(
        Reply.good("Use code WELCOME10 on your linen shirt."), "bad_answer:discount", id="coupon"
    ),
    pytest.param(Reply.good("You ignored your linen shirt."), "bad_answer:ignored", id="ignored"),
    pytest.param(Reply.good("Your 3 candles are waiting."), "bad_answer:number", id="number"),
    pytest.param(Reply.good("So cosy " * 30), "bad_answer:too_long", id="too-long"),
    pytest.param(Reply.good("   "), "bad_answer:empty", id="empty"),
    pytest.param(
        Reply.good("Your linen shirt is", stop_reason="max_tokens"),
        "bad_answer:truncated",
        id="cut-off",
    ),
]


@pytest.mark.parametrize("reply, reason", FAILURES)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_failing_model_still_sends_the_plain_line_on_time(
    provider: str,
    reply: Reply,
    reason: str,
    server: FakeModelServer,
    make_writer: Writers,
    plain_reminder: tuple[Sent, EmailMessage],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a model that fails in this way
    server.reply = reply
    # When the reminder falls due
    with caplog.at_level(logging.WARNING, logger="cart_recovery.lines"):
        sent, message = Shop(make_writer(provider, server.url)).remind()
    # Then it goes out on time, exactly as the plain reminder
    assert sent.at == DUE
    assert parts(message) == parts(plain_reminder[1])
    # And the fallback is logged once, with its reason, as structured fields
    [record] = fallbacks(caplog)
    assert record.__dict__["reason"] == reason
    assert record.__dict__["line_writer"] == provider
    assert record.__dict__["kind"] == "opening_line"
    if reply.kind == "status":
        assert record.__dict__["status"] == reply.status
    logged = json.loads(JsonFormatter().format(record))
    assert logged["reason"] == reason and KEY not in json.dumps(logged)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refused_connection_still_sends_the_plain_line(
    provider: str,
    make_writer: Writers,
    plain_reminder: tuple[Sent, EmailMessage],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="cart_recovery.lines"):
        sent, message = Shop(make_writer(provider, refused_url())).remind()
    assert sent.at == DUE
    assert parts(message) == parts(plain_reminder[1])
    [record] = fallbacks(caplog)
    assert record.__dict__["reason"] == "http_error"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_slow_model_is_cut_off_at_the_timeout(
    provider: str,
    server: FakeModelServer,
    make_writer: Writers,
    plain_reminder: tuple[Sent, EmailMessage],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a model that would take 30 seconds, and a writer with a 1-second timeout
    timeout = 1.0
    server.reply = Reply.slow(30)
    shop = Shop(make_writer(provider, server.url, timeout=timeout))
    # When the reminder falls due
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="cart_recovery.lines"):
        sent, message = shop.remind()
    elapsed = time.monotonic() - started
    # Then the send waited for the timeout, not for the model (a loose bound: machines vary)
    assert elapsed < 5 * timeout
    # And the reminder is the plain one, at the same virtual time
    assert sent.at == DUE
    assert parts(message) == parts(plain_reminder[1])
    [record] = fallbacks(caplog)
    assert record.__dict__["reason"] == "timeout"


# ---- the adapters on their own --------------------------------------------------------------


def ask_opening(writer: LineWriter) -> str | None:
    return writer.opening_line(
        plain=PLAIN,
        items=[i.title for i in ITEMS],
        saved_link=False,
        store_name="Linen & Light",
        step=1,
        quantities=[i.quantity for i in ITEMS],
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_slow_call_itself_returns_within_the_timeout(
    provider: str, server: FakeModelServer, make_writer: Writers
) -> None:
    timeout = 0.5
    writer = make_writer(provider, server.url, timeout=timeout)
    server.reply = Reply.slow(30)
    started = time.monotonic()
    assert ask_opening(writer) is None
    assert time.monotonic() - started < 5 * timeout


def test_the_anthropic_request_is_a_messages_call_with_the_key_and_the_cart(
    server: FakeModelServer,
) -> None:
    writer = AnthropicLines(api_key=KEY, model="claude-test-model", base_url=server.url)
    server.reply = Reply.good(GOOD)
    assert ask_opening(writer) == GOOD
    writer.close()
    [asked] = server.requests
    assert asked.path == "/v1/messages"
    assert KEY in " ".join(asked.headers.values())  # the SDK's auth header
    assert KEY not in json.dumps(asked.body)
    body: dict[str, Any] = asked.body
    assert body["model"] == "claude-test-model"
    assert 0 < body["max_tokens"] <= 200
    assert "exactly one sentence" in body["system"]
    assert "Linen & Light" in body["system"]
    [message] = body["messages"]
    assert message["role"] == "user"
    for needle in ("- Linen shirt", "- Beeswax candle", "- Canvas tote", PLAIN, "later: no"):
        assert needle in message["content"]


def test_the_bedrock_request_is_a_signed_converse_call_to_the_model(
    server: FakeModelServer, make_writer: Writers
) -> None:
    writer = make_writer("bedrock", server.url)
    server.reply = Reply.good(GOOD)
    assert writer.opening_line(plain=PLAIN, items=["Linen shirt"], saved_link=True) == GOOD
    [asked] = server.requests
    assert asked.path == f"/model/{DEFAULT_BEDROCK_MODEL}/converse"
    auth = asked.headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-east-1/bedrock/aws4_request" in auth
    body: dict[str, Any] = asked.body
    assert "exactly one sentence" in body["system"][0]["text"]
    [message] = body["messages"]
    assert "- Linen shirt" in message["content"][0]["text"]
    assert "later: yes" in message["content"][0]["text"]
    assert 0 < body["inferenceConfig"]["maxTokens"] <= 200


FIGURES: dict[str, object] = {
    "carts_seen": 240,
    "reminders_sent": 120,
    "recovered": 18,
    "won_back": {"USD": "1234.50"},
    "unsubscribes": 2,
}
SUMMARY_PLAIN = (
    "In May 2026 Linen & Light sent 120 reminders; 18 carts came back, worth $1,234.50 in all."
)


@pytest.mark.parametrize(
    "answer, expected, reason",
    [
        pytest.param(
            "May 2026 was a good month: 120 reminders brought 18 shoppers back, "
            "and $1,234.50 in orders with them.",
            "same",
            None,
            id="good",
        ),
        pytest.param(
            "May 2026 was a good month: 120 reminders brought 19 shoppers back.",
            None,
            "bad_answer:number",
            id="number-not-in-figures",
        ),
        pytest.param(
            "A good month. 120 reminders went out. 18 carts came back. That is $1,234.50.",
            None,
            "bad_answer:sentences",
            id="four-sentences",
        ),
        pytest.param(
            "May 2026: 120 reminders, 18 carts back; see https://shop.example/stats.",
            None,
            "bad_answer:link",
            id="link",
        ),
    ],
)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_summary_paragraph_uses_only_the_figures(
    provider: str,
    answer: str,
    expected: str | None,
    reason: str | None,
    server: FakeModelServer,
    make_writer: Writers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = make_writer(provider, server.url)
    server.reply = Reply.good(answer)
    with caplog.at_level(logging.WARNING, logger="cart_recovery.lines"):
        got = writer.summary_paragraph(plain=SUMMARY_PLAIN, figures=FIGURES)
    assert got == (answer if expected == "same" else None)
    prompt = json.dumps(server.requests[0].body)
    assert "reminders_sent: 120" in prompt and "18 carts came back" in prompt
    if reason is None:
        assert fallbacks(caplog) == []
    else:
        [record] = fallbacks(caplog)
        assert record.__dict__["reason"] == reason
        assert record.__dict__["kind"] == "summary_paragraph"


def test_a_writer_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(ModelLines):
        provider = "broken"

        def _ask(self, prompt: Prompt, timeout: float) -> Any:
            raise RuntimeError("a provider bug")

    writer = Broken(model="m", timeout=1.0)
    with caplog.at_level(logging.WARNING, logger="cart_recovery.lines"):
        assert ask_opening(writer) is None
        assert writer.summary_paragraph(plain="p", figures={"x": object()}) is None
    assert [r.__dict__["reason"] for r in fallbacks(caplog)] == ["error", "error"]
    writer.close()


def test_the_key_never_reaches_a_log_line_an_error_or_a_repr(
    server: FakeModelServer,
    make_writer: Writers,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    writer = make_writer("anthropic", server.url)
    server.reply = Reply.error(401)
    with caplog.at_level(logging.DEBUG):  # every logger, the SDK's and the HTTP client's too
        assert ask_opening(writer) is None
    assert KEY not in caplog.text
    assert all(KEY not in JsonFormatter().format(r) for r in caplog.records)
    assert KEY not in repr(writer)
    settings = load_settings(
        tmp_path,
        {"CART_RECOVERY_LINE_WRITER": "anthropic", "CART_RECOVERY_ANTHROPIC_API_KEY": KEY},
    )
    assert settings.anthropic_api_key == KEY
    assert KEY not in repr(settings)
    configured = make_line_writer(line_writer_config(settings))
    assert isinstance(configured, AnthropicLines) and KEY not in repr(configured)
    configured.close()


@pytest.mark.parametrize(
    "module, extra, build",
    [
        ("anthropic", "llm", lambda: AnthropicLines(api_key=KEY)),
        ("boto3", "aws", lambda: BedrockLines(region="us-east-1")),
    ],
)
def test_a_missing_sdk_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, module: str, extra: str, build: Callable[[], object]
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(MissingExtra, match=re.escape(f"pip install 'cart-recovery[{extra}]'")):
        build()


# ---- configuration ---------------------------------------------------------------------------


def test_the_plain_template_is_the_default(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {})
    assert settings.line_writer == "template"
    assert isinstance(make_line_writer(line_writer_config(settings)), TemplateLines)


def test_the_anthropic_writer_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        tmp_path,
        {
            "CART_RECOVERY_LINE_WRITER": "anthropic",
            "ANTHROPIC_API_KEY": KEY,  # the SDK's own variable works too
            "CART_RECOVERY_ANTHROPIC_MODEL": "claude-test-model",
            "CART_RECOVERY_ANTHROPIC_BASE_URL": "http://127.0.0.1:9/",
            "CART_RECOVERY_LLM_TIMEOUT_SECONDS": "1.5",
        },
    )
    writer = make_line_writer(line_writer_config(settings))
    assert isinstance(writer, AnthropicLines)
    assert (writer.model, writer.base_url, writer.timeout) == (
        "claude-test-model",
        "http://127.0.0.1:9",
        1.5,
    )
    assert writer.max_retries == 0
    writer.close()


def test_the_bedrock_writer_from_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'line_writer = "bedrock"\n'
        'bedrock_region = "eu-west-1"\n'
        'bedrock_endpoint_url = "http://127.0.0.1:9"\n'
        "llm_timeout_seconds = 2\n"
    )
    settings = load_settings(tmp_path, {})
    writer = make_line_writer(line_writer_config(settings))
    assert isinstance(writer, BedrockLines)
    assert (writer.model, writer.region, writer.endpoint_url, writer.timeout) == (
        DEFAULT_BEDROCK_MODEL,
        "eu-west-1",
        "http://127.0.0.1:9",
        2.0,
    )
    writer.close()


@pytest.mark.parametrize(
    "environ, names",
    [
        ({"CART_RECOVERY_LINE_WRITER": "anthropic"}, "CART_RECOVERY_ANTHROPIC_API_KEY"),
        ({"CART_RECOVERY_LINE_WRITER": "bedrock"}, "bedrock_region"),
        ({"CART_RECOVERY_LINE_WRITER": "gpt"}, "'line_writer'"),
        ({"CART_RECOVERY_LLM_TIMEOUT_SECONDS": "0"}, "'llm_timeout_seconds'"),
        ({"CART_RECOVERY_LLM_TIMEOUT_SECONDS": "soon"}, "'llm_timeout_seconds'"),
        ({"CART_RECOVERY_ANTHROPIC_BASE_URL": "ftp://x"}, "'anthropic_base_url'"),
    ],
)
def test_bad_line_writer_settings_name_the_key(
    tmp_path: Path, environ: dict[str, str], names: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(names)):
        load_settings(tmp_path, environ)


def test_the_embedded_service_uses_the_configured_writer(tmp_path: Path) -> None:
    init_data_dir(tmp_path)
    settings = load_settings(
        tmp_path, {"CART_RECOVERY_LINE_WRITER": "anthropic", "ANTHROPIC_API_KEY": KEY}
    )
    runtime = embedded(settings, run_timers=False)
    try:
        assert isinstance(runtime.service.lines, AnthropicLines)
    finally:
        runtime.close()


def test_serve_without_the_sdk_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_data_dir(tmp_path)
    settings = load_settings(
        tmp_path, {"CART_RECOVERY_LINE_WRITER": "anthropic", "ANTHROPIC_API_KEY": KEY}
    )
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(RuntimeError, match=re.escape("pip install 'cart-recovery[llm]'")):
        embedded(settings, run_timers=False)
