"""Where and how to reach the SMTP server: ``SmtpSettings`` and ``parse_smtp_url``.

No error text and no ``repr`` here ever shows the SMTP password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

SmtpMode = Literal["plain", "starttls", "ssl"]

_DEFAULT_PORTS: dict[SmtpMode, int] = {"plain": 25, "starttls": 587, "ssl": 465}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach the SMTP server.  ``repr``/``str`` leave the password out."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    mode: SmtpMode = "plain"
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.host or any(ch.isspace() for ch in self.host):
            raise ValueError("SMTP host must be a non-empty name without spaces")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"SMTP port must be 1-65535, not {self.port}")
        if self.mode not in _DEFAULT_PORTS:
            raise ValueError(f"SMTP mode must be plain, starttls or ssl, not {self.mode!r}")
        if not self.timeout > 0:
            raise ValueError("SMTP timeout must be a positive number of seconds")
        if self.password is not None and self.username is None:
            raise ValueError("SMTP password given without a user name")


def parse_smtp_url(url: str) -> SmtpSettings:
    """Read ``smtp://[user[:password]@]host[:port][?starttls=true&timeout=30]`` or ``smtps://...``.

    * ``smtp://``: plain SMTP, port 25 by default; with ``?starttls=true`` STARTTLS, port 587.
    * ``smtps://``: implicit TLS, port 465 by default.

    User name and password are percent-decoded (write ``@`` as ``%40``, ``:`` as ``%3A``, ``/``
    as ``%2F``...).  A bad URL raises ``ValueError`` saying what is wrong; the text never
    repeats the password.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("SMTP URL is empty")
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise ValueError("SMTP URL is malformed (check the brackets around an IPv6 host)") from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        shown = f"{scheme!r}" if scheme else "none"
        raise ValueError(f"SMTP URL scheme must be smtp:// or smtps://, got {shown}")
    if "@" in parts.path or "@" in parts.query or "@" in parts.fragment:
        raise ValueError(
            "SMTP URL has an '@' after the host: percent-encode '/', '?', '#', '@' and ':' "
            "in the user name and password"
        )
    if not parts.netloc:
        raise ValueError(f"SMTP URL has no host (expected {scheme}://host)")
    if parts.path not in ("", "/"):
        raise ValueError("SMTP URL must not have a path after the host")
    if parts.fragment:
        raise ValueError("SMTP URL must not have a #fragment")

    host = parts.hostname
    if not host:
        raise ValueError("SMTP URL has no host name")
    try:
        explicit_port = parts.port
    except ValueError:
        raise ValueError("SMTP URL port must be a number from 1 to 65535") from None
    if explicit_port == 0:
        raise ValueError("SMTP URL port must be a number from 1 to 65535")

    starttls, timeout = _query_options(parts.query)

    mode: SmtpMode
    if scheme == "smtps":
        if starttls:
            raise ValueError(
                "SMTP URL: starttls=true cannot be combined with smtps:// (already TLS); "
                "use smtp://...?starttls=true for STARTTLS"
            )
        mode = "ssl"
    else:
        mode = "starttls" if starttls else "plain"

    username, password = _credentials(parts)
    if password is not None and username is None:
        raise ValueError("SMTP URL has a password but no user name")

    return SmtpSettings(
        host=host,
        port=explicit_port or _DEFAULT_PORTS[mode],
        username=username,
        password=password,
        mode=mode,
        timeout=timeout,
    )


def _query_options(query: str) -> tuple[bool | None, float]:
    """``starttls`` (None when not given) and ``timeout`` from the URL's query."""
    starttls: bool | None = None
    timeout = 30.0
    seen: set[str] = set()
    for key, value in parse_qsl(query, keep_blank_values=True):
        name = key.lower()
        if name in seen:
            raise ValueError(f"SMTP URL query parameter {name!r} is given twice")
        seen.add(name)
        if name == "starttls":
            flag = value.lower()
            if flag not in _TRUE | _FALSE:
                raise ValueError("SMTP URL starttls= must be true or false")
            starttls = flag in _TRUE
        elif name == "timeout":
            try:
                timeout = float(value)
            except ValueError:
                raise ValueError("SMTP URL timeout= must be a number of seconds") from None
            if not 0 < timeout < float("inf"):
                raise ValueError("SMTP URL timeout= must be a positive number of seconds")
        else:
            raise ValueError(
                f"SMTP URL has an unknown query parameter {name!r} (known: starttls, timeout)"
            )
    return starttls, timeout


def _credentials(parts: SplitResult) -> tuple[str | None, str | None]:
    """The percent-decoded user name and password of the URL."""
    username: str | None = None
    password: str | None = None
    try:
        if parts.username:
            username = unquote(parts.username, errors="strict")
        if parts.password is not None:
            password = unquote(parts.password, errors="strict")
    except UnicodeDecodeError:
        raise ValueError(
            "SMTP URL user name or password is not valid percent-encoded UTF-8"
        ) from None
    return username, password
