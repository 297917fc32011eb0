"""The HTTP protocol ``serve`` runs: uvicorn's (httptools), with a response's headers and
body sent in one write.

uvicorn writes a response's status line and headers when the app sends
``http.response.start`` and its body when the app sends ``http.response.body``: two
``send`` system calls, and two segments on the wire, for a response as small as the webhook's.
Here a write is held until the connection's next write, which then sends both at once, or
until the end of the event loop's current turn (a response with no body to follow, such as
one to a ``HEAD``). Nothing is reordered or dropped: a close (or the end of writing) sends
what is held first, and the held bytes count in the write buffer's size (flow control sees
them)."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class TurnWrites:
    """A transport whose writes leave two at a time: a held write goes with the next one, or
    at the end of the event loop's turn."""

    __slots__ = ("_held", "_loop", "_size", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: list[bytes | bytearray | memoryview] | None = None
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        held = self._held
        if held is None:  # held until the next write, or the end of this turn at the latest
            self._held = [data if type(data) is bytes else bytes(data)]  # must not change
            self._size = len(data)
            self._loop.call_soon(self.flush)
        else:  # the body after its headers: both go now
            held.append(data)
            self.flush()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        held = self._held
        if held is None:
            return
        self._held = None
        self._size = 0
        if self.transport.is_closing():  # the peer went away: nothing can be sent
            return
        self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + self._size

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._size = 0
        self.transport.abort()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self.transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over ``TurnWrites``: a response's headers and body in one
    write."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(TurnWrites(transport, self.loop))  # type: ignore[arg-type]
