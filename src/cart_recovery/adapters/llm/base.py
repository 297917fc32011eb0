"""The flow every model-backed line writer shares: prompt → ask (within a deadline) → check.

A provider fills in one step, ``_ask``: send the prompt, return the answer's text, and turn its
SDK's errors into a ``LineFailure`` with a reason. Everything else lives here, so every provider
keeps the same promises: the call returns within ``timeout`` seconds, never raises, and any
failure (a timeout, an HTTP error, an answer that breaks a rule) gives ``None``, the plain text,
with one structured log line saying why. The log line names the provider, the model, the reason
and the HTTP status or the error's class, never a key, a prompt or the model's answer.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar

from cart_recovery.domain.lines import (
    Prompt,
    check_opening,
    check_summary,
    opening_numbers,
    opening_prompt,
    summary_numbers,
    summary_prompt,
)

log = logging.getLogger("cart_recovery.lines")

DEFAULT_TIMEOUT = 3.0
MAX_TIMEOUT = 60.0
WORKERS = 4  # calls in flight at once; a call still queued when its deadline passes is dropped


class MissingExtra(ImportError, RuntimeError):
    """A provider's SDK is not installed; the message names the pip extra that brings it.
    Also a RuntimeError, so the CLI reports it as a one-line start-up error."""


def require(module: str, *, extra: str, what: str) -> ModuleType:
    """Import ``module`` or raise MissingExtra naming ``pip install 'cart-recovery[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(
            f"{what} needs the '{module.split('.')[0]}' package: "
            f"pip install 'cart-recovery[{extra}]'"
        ) from None


class LineFailure(Exception):
    """Why a model gave no usable line: ``timeout``, ``http_error``, ``bad_answer:<rule>``...

    ``status`` is the HTTP status when there was one; ``error`` names the error's class or code
    (never its message, which may quote a request)."""

    def __init__(self, reason: str, *, status: int | None = None, error: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.error = error


@dataclass(frozen=True)
class Answer:
    text: str
    truncated: bool = False  # the model ran out of its token budget mid-answer


class ModelLines:
    """A LineWriter backed by a model. Subclasses implement ``_ask``."""

    provider: ClassVar[str] = "model"

    def __init__(self, *, model: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not model:
            raise ValueError(f"the {self.provider} line writer needs a model name")
        if not 0 < timeout <= MAX_TIMEOUT:
            raise ValueError(f"the line writer timeout must be above 0 and at most {MAX_TIMEOUT} s")
        self.model = model
        self.timeout = float(timeout)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, timeout={self.timeout})"

    # ---- the port -------------------------------------------------------------------------
    def opening_line(
        self,
        *,
        plain: str,
        items: Sequence[str],
        saved_link: bool,
        store_name: str = "",
        step: int = 1,
        quantities: Sequence[int] = (),
    ) -> str | None:
        started = time.monotonic()
        try:
            prompt = opening_prompt(
                plain=plain, items=items, saved_link=saved_link, store_name=store_name, step=step
            )
            allowed = opening_numbers(
                plain=plain, items=items, store_name=store_name, quantities=quantities
            )
            known = (*items, store_name)
        except Exception as e:  # never raises: a bad argument keeps the plain line
            self._fell_back("opening_line", LineFailure("error", error=type(e).__name__), started)
            return None
        return self._polish(
            "opening_line",
            prompt,
            lambda text: check_opening(text, allowed_numbers=allowed, known_text=known),
            started,
        )

    def summary_paragraph(self, *, plain: str, figures: Mapping[str, object]) -> str | None:
        started = time.monotonic()
        try:
            prompt = summary_prompt(plain=plain, figures=figures)
            allowed = summary_numbers(plain=plain, figures=figures)
        except Exception as e:
            self._fell_back(
                "summary_paragraph", LineFailure("error", error=type(e).__name__), started
            )
            return None
        return self._polish(
            "summary_paragraph",
            prompt,
            lambda text: check_summary(text, allowed_numbers=allowed),
            started,
        )

    def close(self) -> None:
        """Stop the worker threads (a call still running ends at its own SDK timeout)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # ---- the flow -------------------------------------------------------------------------
    def _polish(
        self, kind: str, prompt: Prompt, check: Callable[[str], str | None], started: float
    ) -> str | None:
        try:
            answer = self._within_deadline(prompt, started)
            if answer.truncated:
                raise LineFailure("bad_answer:truncated")
            problem = check(answer.text)
            if problem is not None:
                raise LineFailure(f"bad_answer:{problem}")
        except LineFailure as failure:
            self._fell_back(kind, failure, started)
            return None
        except Exception as e:  # a provider bug must not stop a reminder
            self._fell_back(kind, LineFailure("error", error=type(e).__name__), started)
            return None
        log.debug(
            "line polished",
            extra={
                "line_writer": self.provider,
                "model": self.model,
                "kind": kind,
                "elapsed_ms": _ms(started),
            },
        )
        return answer.text.strip()

    def _within_deadline(self, prompt: Prompt, started: float) -> Answer:
        """Run ``_ask`` on a worker thread and wait for it until ``timeout`` after ``started``.

        The SDK gets the same timeout and no retries of its own, so a call given up on here
        ends by itself soon after; the caller never waits longer than the deadline."""
        remaining = self.timeout - (time.monotonic() - started)
        if remaining <= 0:
            raise LineFailure("timeout")
        future: Future[Answer] = self._executor().submit(self._ask, prompt, self.timeout)
        try:
            return future.result(timeout=remaining)
        except TimeoutError:  # the deadline passed (or the SDK's own timeout fired)
            future.cancel()
            raise LineFailure("timeout") from None

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=WORKERS, thread_name_prefix=f"lines-{self.provider}"
                )
            return self._pool

    def _ask(self, prompt: Prompt, timeout: float) -> Answer:
        """Send ``prompt`` to the model; raise LineFailure with a reason on any failure."""
        raise NotImplementedError

    def _fell_back(self, kind: str, failure: LineFailure, started: float) -> None:
        log.warning(
            "line writer fell back to the plain text",
            extra={
                "line_writer": self.provider,
                "model": self.model,
                "kind": kind,
                "reason": failure.reason,
                "status": failure.status,
                "error": failure.error,
                "elapsed_ms": _ms(started),
            },
        )


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
