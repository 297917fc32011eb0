"""The HTTP protocol ``serve`` runs (``embedded/http.py``): a response's headers and body leave
as one write, in order, and nothing held is lost or sent after a close."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from cart_recovery.embedded.http import OneWriteProtocol, TurnWrites


class RecordingTransport(asyncio.Transport):
    """A transport that keeps what is written to it, each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 7


def test_headers_and_body_leave_in_one_write_and_a_lone_write_at_the_end_of_the_turn() -> None:
    async def main() -> tuple[list[bytes], int, list[bytes], list[bytes], list[bytes]]:
        transport = RecordingTransport()
        writes = TurnWrites(transport, asyncio.get_running_loop())
        head = bytearray(b"HTTP/1.1 200 OK\r\n\r\n")
        writes.write(head)
        head[:] = b"X" * len(head)  # the caller may reuse its buffer once write returns
        writes.write(b"")  # nothing to send: no write of its own
        held = list(transport.writes)
        size = writes.get_write_buffer_size()
        writes.write(b"body")
        together = list(transport.writes)
        writes.write(b"HTTP/1.1 204 No Content\r\n\r\n")  # no body follows
        before_the_end = list(transport.writes)
        await asyncio.sleep(0)  # the end of the turn
        return held, size, together, before_the_end, transport.writes

    held, size, together, before_the_end, sent = asyncio.run(main())
    assert held == []
    assert size == 7 + len(b"HTTP/1.1 200 OK\r\n\r\n")  # held bytes count for flow control
    assert together == [b"HTTP/1.1 200 OK\r\n\r\nbody"]  # sent at once, not at the turn's end
    assert before_the_end == together
    assert sent == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"HTTP/1.1 204 No Content\r\n\r\n"]


def test_a_close_sends_what_is_held_first_and_an_abort_drops_it() -> None:
    async def main() -> tuple[RecordingTransport, RecordingTransport]:
        loop = asyncio.get_running_loop()
        closed, aborted = RecordingTransport(), RecordingTransport()
        a, b = TurnWrites(closed, loop), TurnWrites(aborted, loop)
        a.write(b"last words")
        a.close()
        b.write(b"never sent")
        b.abort()
        await asyncio.sleep(0)
        return closed, aborted

    closed, aborted = asyncio.run(main())
    assert closed.writes == [b"last words"] and closed.closed
    assert aborted.writes == [] and aborted.aborted


def test_nothing_is_written_to_a_transport_that_is_closing() -> None:
    async def main() -> RecordingTransport:
        transport = RecordingTransport()
        writes = TurnWrites(transport, asyncio.get_running_loop())
        writes.write(b"too late")
        transport.closed = True  # the peer went away before the end of the turn
        await asyncio.sleep(0)
        return transport

    assert asyncio.run(main()).writes == []


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = b"got " + body
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(answer)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture
def port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app, http=OneWriteProtocol, lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(timeout=20)


def _response(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.startswith(b"content-length")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def test_responses_over_one_connection_arrive_whole_and_in_order(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        answers = []
        for body in (b"one", b"two", b""):
            conn.sendall(
                b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
            )
            answers.append(_response(conn))
        # a HEAD: headers and no body, sent at the end of the turn
        conn.sendall(b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\n")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += conn.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-length: 4\r\n" in head
        # a response to a request that asked to close, then the connection closes
        conn.sendall(
            b"POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
        )
        answers.append(_response(conn))
        assert conn.recv(65536) == b""
    for answer, body in zip(answers, (b"one", b"two", b"", b""), strict=True):
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert answer.endswith(b"\r\n\r\ngot " + body)
