"""A fake model server on 127.0.0.1 speaking two wire shapes over real HTTP:

- the Anthropic Messages API: ``POST /v1/messages`` → ``{"content": [{"type": "text", ...}]}``;
- the Bedrock Runtime Converse API: ``POST /model/{modelId}/converse`` →
  ``{"output": {"message": {"content": [{"text": ...}]}}}``.

Each test tells it how to answer (``server.reply = Reply.text(...)``, ``Reply.slow(...)``,
``Reply.status(500)``, ``Reply.garbage()``...) and reads what the real SDKs sent in
``server.requests``. A slow answer waits on an event that ``stop()`` sets, so shutting down never
waits for it.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

ANTHROPIC_PATH = "/v1/messages"
CONVERSE_PREFIX = "/model/"
CONVERSE_SUFFIX = "/converse"


@dataclass(frozen=True)
class Reply:
    """How the fake answers the next requests."""

    kind: str  # text | status | garbage | not_a_message | slow
    text: str = ""
    status: int = 200
    delay: float = 0.0
    stop_reason: str = "end_turn"

    @classmethod
    def good(cls, text: str, *, stop_reason: str = "end_turn") -> Reply:
        return cls("text", text=text, stop_reason=stop_reason)

    @classmethod
    def slow(cls, seconds: float, text: str = "Your cart is right where you left it.") -> Reply:
        return cls("slow", text=text, delay=seconds)

    @classmethod
    def error(cls, status: int) -> Reply:
        return cls("status", status=status)

    @classmethod
    def garbage(cls) -> Reply:
        """A 200 whose JSON body is cut off mid-way."""
        return cls("garbage")

    @classmethod
    def not_a_message(cls) -> Reply:
        """A 200 with valid JSON of the wrong shape."""
        return cls("not_a_message")


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeModelServer:
    reply: Reply = field(default_factory=lambda: Reply.good("Your cart is waiting for you."))
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._release = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll
            name="fake-model-server",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # let a slow answer go now
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # ---- answering ----------------------------------------------------------------------------
    def answer(self, handler: BaseHTTPRequestHandler, path: str, body: Any) -> None:
        reply = self.reply
        if path == ANTHROPIC_PATH:
            api = "anthropic"
        elif path.startswith(CONVERSE_PREFIX) and path.endswith(CONVERSE_SUFFIX):
            api = "bedrock"
        else:
            _send(handler, 404, {"message": f"no route {path}"})
            return
        if reply.kind == "slow":
            self._release.wait(reply.delay)
        if reply.kind == "status":
            _send_error(handler, api, reply.status)
        elif reply.kind == "garbage":
            _send_raw(handler, 200, b'{"content": [{"type": "text", "text": "Your cart')
        elif reply.kind == "not_a_message":
            _send(handler, 200, {"hello": "world"})
        elif api == "anthropic":
            _send(handler, 200, _anthropic_message(body, reply))
        else:
            _send(handler, 200, _converse_answer(reply))


def _anthropic_message(body: Any, reply: Reply) -> dict[str, Any]:
    return {
        "id": "msg_fake_0001",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "fake") if isinstance(body, dict) else "fake",
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 42, "output_tokens": 12},
    }


def _converse_answer(reply: Reply) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": reply.text}]}},
        "stopReason": reply.stop_reason,
        "usage": {"inputTokens": 42, "outputTokens": 12, "totalTokens": 54},
        "metrics": {"latencyMs": 12},
    }


_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_BEDROCK_ERRORS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def _send_error(handler: BaseHTTPRequestHandler, api: str, status: int) -> None:
    if api == "anthropic":
        kind = _ANTHROPIC_ERRORS.get(status, "api_error")
        _send(handler, status, {"type": "error", "error": {"type": kind, "message": "fake"}})
    else:
        kind = _BEDROCK_ERRORS.get(status, "InternalServerException")
        _send(handler, status, {"message": "fake"}, {"x-amzn-ErrorType": kind})


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: Any,
    headers: dict[str, str] | None = None,
) -> None:
    _send_raw(handler, status, json.dumps(payload).encode(), headers)


def _send_raw(
    handler: BaseHTTPRequestHandler,
    status: int,
    data: bytes,
    headers: dict[str, str] | None = None,
) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("x-amzn-RequestId", "fake-request-0001")
        handler.send_header("request-id", "req_fake_0001")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (its timeout): nothing to answer


def _handler(server: FakeModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw
            path = unquote(self.path.split("?", 1)[0])
            server.requests.append(Seen("POST", path, dict(self.headers.items()), body))
            server.answer(self, path, body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def running() -> Iterator[FakeModelServer]:
    server = FakeModelServer().start()
    try:
        yield server
    finally:
        server.stop()


def refused_url() -> str:
    """A 127.0.0.1 URL where nothing listens: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
