"""The webhook's group commit: one writer thread applies concurrent requests' events in
batches, one transaction each, every request answered after its commit is durable. Where the
store can leave the sync for later (``DeferredSync``), a second thread syncs while the writer
applies the next batch, and answers every batch committed before its sync began."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime

from cart_recovery.domain.model import CartEvent
from cart_recovery.ports import DeferredSync, GroupCommit
from cart_recovery.service import Service

log = logging.getLogger("cart_recovery.timers")


class IngestQueue:
    """Group commit for the webhook: concurrent requests' events are applied by one writer
    thread in batches, each batch one transaction; every request is answered after the commit
    that holds its event is durable. A failing event fails only its own request."""

    def __init__(self, service: Service, store: GroupCommit, *, max_batch: int = 256) -> None:
        self.service = service
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._syncer: threading.Thread | None = None
        self._synced: queue.SimpleQueue[list[_Result] | None] = queue.SimpleQueue()
        self._deferred = store if isinstance(store, DeferredSync) else None
        self._starting = threading.Lock()
        self.batches = 0
        self.events = 0

    def start(self) -> None:
        with self._starting:
            if self._thread is None:
                if self._deferred is not None:
                    self._syncer = threading.Thread(
                        target=self._sync, name="ingest-sync", daemon=True
                    )
                    self._syncer.start()
                self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._syncer is not None:
            self._synced.put(None)
            self._syncer.join()
            self._syncer = None

    async def ingest(self, event: CartEvent, now: datetime) -> bool:
        if self._thread is None:
            self.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._queue.put(_Item(event, now, loop, future))
        return await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            results: list[_Result] = []
            deferred = self._deferred
            try:
                with self.store.group() if deferred is None else deferred.group(sync=False):
                    # an event that fails is its own request's answer; its writes were rolled
                    # back alone
                    answers = self.service.ingest_many([(item.event, item.now) for item in batch])
                    results = list(zip(batch, answers, strict=True))
            except Exception as e:  # the commit itself failed: nobody was accepted
                log.exception("group commit failed")
                results = [(item, e) for item in batch]
                deferred = None  # nothing was committed: nothing to wait for
            self.batches += 1
            self.events += len(batch)
            if deferred is not None:
                self._synced.put(results)
            else:
                _answer(results)

    def _sync(self) -> None:
        """Sync once for every batch committed so far, then answer them all. Redeliveries
        and refusals wait too: a duplicate's first delivery may be in a batch not yet
        synced."""
        store = self._deferred
        assert store is not None
        while True:
            first = self._synced.get()
            if first is None:
                return
            batches = [first]
            stopping = False
            while True:
                try:
                    more = self._synced.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batches.append(more)
            try:
                store.sync()
            except Exception as e:  # durable or not is unknown: nobody is accepted
                log.exception("syncing the group commits failed")
                batches = [[(item, e) for item, _ in results] for results in batches]
            for results in batches:
                _answer(results)
            if stopping:
                return


@dataclass
class _Item:
    event: CartEvent
    now: datetime
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[bool]


_Answer = tuple[asyncio.Future[bool], bool | BaseException]
_Result = tuple[_Item, bool | BaseException]


def _answer(results: list[_Result]) -> None:
    """One wake-up of each waiting event loop per batch, not one per request."""
    answers: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
    for item, result in results:
        answers.setdefault(item.loop, []).append((item.future, result))
    for loop, pairs in answers.items():
        # a closed loop raises RuntimeError: nobody is waiting there any more
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, pairs)


def _resolve(answers: list[_Answer]) -> None:
    for future, result in answers:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
