"""A complete service on in-memory adapters: the store, the mailer and the docs in memory, real
link signing. What tests, benchmarks and the reference replay of ``simulate`` build, instead of
wiring a ``Service`` by hand."""

from __future__ import annotations

from collections.abc import Callable

from cart_recovery.adapters.links import LinkMaker, Tokens
from cart_recovery.adapters.mail import MailError, MemoryMailer
from cart_recovery.adapters.memory import MemoryStore, StaticDocs
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT, Rules, parse_rules
from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT, Voice, parse_voice
from cart_recovery.ports import CartStore, DocSource, LineWriter, Mailer
from cart_recovery.service import Happening, Service

SIGNING_KEY = "in-memory-signing-key-not-secret"


def in_memory(
    *,
    store: CartStore | None = None,
    mailer: Mailer | None = None,
    rules: Rules | None = None,
    voice: Voice | None = None,
    docs: DocSource | None = None,
    signing_key: str = SIGNING_KEY,
    base_url: str = "https://shop.example",
    sender: str = "Linen & Light <shop@example.com>",
    message_id_domain: str = "shop.example",
    lines: LineWriter | None = None,
    on_happening: Callable[[Happening], None] | None = None,
) -> Service:
    """A ``Service`` over the given adapters, in-memory ones for the rest: a ``MemoryStore``,
    a ``MemoryMailer`` and the default rules and voice (or ``docs``, e.g. a ``MemoryDocs`` the
    owner edits). Every keyword is optional."""
    if docs is None:
        docs = StaticDocs(
            rules if rules is not None else parse_rules(DEFAULT_RULES_TEXT),
            voice if voice is not None else parse_voice(DEFAULT_VOICE_TEXT),
        )
    if store is None:
        store = MemoryStore()
    # the links name an address by the digest the store's unsubscribe list keeps
    email_key = getattr(store, "email_key", None)
    service = Service(
        store=store,
        mailer=mailer if mailer is not None else MemoryMailer(),
        docs=docs,
        links=LinkMaker(base_url, Tokens(signing_key, email_key)),
        sender=sender,
        message_id_domain=message_id_domain,
        mail_errors=(MailError,),
        on_happening=on_happening,
    )
    if lines is not None:
        service.lines = lines
    return service
