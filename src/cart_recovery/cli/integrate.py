"""Integrator tools: ``cart-recovery send-test-event`` (build, sign and post one event to a
running service, to check a setup end to end) and ``cart-recovery import FILE`` (a CSV or
JSON-lines backfill of carts, through the same intake as the webhook)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cart_recovery.adapters.storefronts.convert import decode_json, to_event
from cart_recovery.cli.options import data_dir_option, data_dir_settings, open_data_dir
from cart_recovery.domain.calendar import utc_stamp
from cart_recovery.domain.cart import EventError, validate_event
from cart_recovery.domain.model import CartEvent
from cart_recovery.ports import RequestError
from cart_recovery.web.webhooks import PATHS

TEST_ITEMS = [
    {"title": "Linen shirt", "quantity": 1, "unit_price": "68.00"},
    {"title": "Beeswax candle", "quantity": 2, "unit_price": "18.00"},
    {"title": "Canvas tote", "quantity": 1, "unit_price": "16.00"},
]


# ---- send-test-event ----------------------------------------------------------------------------
def test_event(
    kind: str, cart_id: str, email: str | None, name: str | None, now: datetime
) -> dict[str, Any]:
    """A sample cart event (the series' $120 cart)."""
    event: dict[str, Any] = {
        "event_id": f"test-{secrets.token_hex(6)}",
        "type": kind,
        "cart_id": cart_id,
        "occurred_at": utc_stamp(now),
        "items": TEST_ITEMS,
        "currency": "USD",
        "return_url": f"https://shop.example/cart/{cart_id}",
    }
    if email:
        event["email"] = email
    if name:
        event["name"] = name
    return event


def shopify_test_checkout(
    cart_id: str, email: str | None, name: str | None, now: datetime, completed: bool
) -> dict[str, Any]:
    """A checkout shaped like Shopify's ``checkouts/update`` payload."""
    at = now.astimezone(UTC).isoformat()
    return {
        "token": cart_id,
        "email": email,
        "created_at": at,
        "updated_at": at,
        "completed_at": at if completed else None,
        "currency": "USD",
        "presentment_currency": "USD",
        "buyer_accepts_marketing": False,
        "customer": {"first_name": name, "email": email} if name or email else None,
        "line_items": [
            {"title": i["title"], "quantity": i["quantity"], "price": i["unit_price"]}
            for i in TEST_ITEMS
        ],
        "total_price": "120.00",
        "abandoned_checkout_url": f"https://shop.example/checkouts/{cart_id}/recover",
    }


def signed_request(
    source: str,
    secret: str,
    kind: str,
    cart_id: str,
    email: str | None,
    name: str | None,
    now: datetime,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers a storefront of ``source`` sends, signed with ``secret``."""
    ts = int(now.timestamp())
    if source == "shopify":
        from cart_recovery.adapters.storefronts import shopify

        payload = shopify_test_checkout(cart_id, email, name, now, kind == "cart.checked_out")
        body = json.dumps(payload).encode()
        return body, {
            **shopify.sign(body, secret),
            "X-Shopify-Topic": "checkouts/update",
            "X-Shopify-Webhook-Id": f"test-{secrets.token_hex(6)}",
        }
    event = test_event(kind, cart_id, email, name, now)
    body = json.dumps(event).encode()
    if source == "standard":
        from cart_recovery.adapters.storefronts import standard_webhooks

        return body, standard_webhooks.sign(body, secret, event["event_id"], ts)
    from cart_recovery.adapters.storefronts import generic

    return body, generic.sign(body, secret, ts)


def _configured(data_dir: Path, source: str) -> tuple[str, str | None]:
    """The service's base URL and the source's first secret, from its config (if there)."""
    if not (data_dir / "config.toml").exists():
        return "http://127.0.0.1:8080", None
    settings = data_dir_settings(data_dir)
    found = {
        "generic": settings.webhook_secrets,
        "shopify": settings.shopify_secrets,
        "standard": settings.standard_webhooks_secrets,
    }[source]
    return settings.base_url, (found[0] if found else None)


@click.command("send-test-event")
@click.option(
    "--source",
    type=click.Choice(sorted(PATHS)),
    default="generic",
    show_default=True,
    help="Which webhook to exercise (and how to sign).",
)
@click.option("--url", default=None, help="The service's base URL (default: base_url in config).")
@click.option("--secret", default=None, help="The signing secret (default: from the config).")
@click.option(
    "--type",
    "kind",
    type=click.Choice(["cart.updated", "cart.checked_out", "cart.saved"]),
    default="cart.updated",
    show_default=True,
)
@click.option("--cart-id", default=None, help="Default: a new test-… id.")
@click.option(
    "--email",
    default=None,
    help="The shopper's address. Without it the cart is recorded but nobody is emailed; with "
    "your own address you get the reminders, to see them (follow with --type cart.checked_out "
    "and the same --cart-id to stop them).",
)
@click.option("--name", default="Maya", show_default=True)
@data_dir_option
def send_test_event(
    source: str,
    url: str | None,
    secret: str | None,
    kind: str,
    cart_id: str | None,
    email: str | None,
    name: str,
    data_dir: Path,
) -> None:
    """Build, sign and post one cart event to a running service, and show its answer.

    Exits 0 only when the service accepted it (2xx)."""
    base, configured = _configured(data_dir, source)
    secret = secret or configured
    if not secret:
        raise click.ClickException(
            f"no secret for the {source} source: pass --secret, or set it in {data_dir}/config.toml"
        )
    cart_id = cart_id or f"test-{secrets.token_hex(4)}"
    now = datetime.now(UTC)
    try:
        body, headers = signed_request(source, secret, kind, cart_id, email, name, now)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    target = (url or base).rstrip("/") + PATHS[source]
    request = urllib.request.Request(  # noqa: S310 (the owner's own service URL)
        target,
        data=body,
        method="POST",
        headers={**headers, "Content-Type": "application/json", "User-Agent": "cart-recovery"},
    )
    click.echo(f"POST {target}  ({source}, {kind}, cart {cart_id})")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        raise click.ClickException(f"could not reach {target}: {e}") from None
    click.echo(f"{status} {text}")
    if not 200 <= status < 300:
        sys.exit(1)


# ---- import ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One record of a backfill file: where it is, and the event it makes (or why not)."""

    line: int
    event: CartEvent | None
    problem: str | None = None


_BOOL = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _csv_record(row: dict[str, str | None]) -> dict[str, Any]:
    """A CSV row as an event's plain fields: empty cells are absent; ``items`` and
    ``wait_override`` hold JSON; booleans are true/false."""
    out: dict[str, Any] = {}
    for key, raw in row.items():
        if key is None or raw is None or not raw.strip():
            continue
        key = key.strip()
        value = raw.strip()
        if key in {"items", "wait_override"}:
            try:
                out[key] = json.loads(value)
            except ValueError:
                raise RequestError(400, "invalid_event", f"{key}: not JSON", key) from None
        elif key in {"saved_link", "marketing_consent"}:
            if value.lower() not in _BOOL:
                raise RequestError(400, "invalid_event", f"{key}: true or false", key)
            out[key] = _BOOL[value.lower()]
        else:
            out[key] = value
    return out


def _records(path: Path, fmt: str) -> Iterator[tuple[int, bytes, dict[str, Any] | Exception]]:
    raw = path.read_bytes()
    if fmt == "jsonl":
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = decode_json(line)
            except RequestError as e:
                yield n, line, e
                continue
            if not isinstance(value, dict):
                yield n, line, RequestError(400, "invalid_event", "not a JSON object", "$")
                continue
            yield n, line, value
        return
    text = raw.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        n = reader.line_num
        key = json.dumps(row, sort_keys=True).encode()
        try:
            yield n, key, _csv_record(row)
        except RequestError as e:
            yield n, key, e


def read_backfill(path: Path, fmt: str, now: datetime) -> list[Row]:
    """Every record of the file as a validated event (type defaults to ``cart.updated``; a
    missing ``event_id`` is derived from the record, so importing a file twice is a no-op)."""
    rows = []
    for n, key, record in _records(path, fmt):
        if isinstance(record, Exception):
            rows.append(Row(n, None, str(record)))
            continue
        record.setdefault("type", "cart.updated")
        record.setdefault("event_id", "import-" + hashlib.sha256(key).hexdigest()[:24])
        try:
            event = validate_event(to_event(record, {}), now)
        except RequestError as e:
            rows.append(Row(n, None, f"{e.field}: {e}" if e.field and e.field != "$" else str(e)))
            continue
        except EventError as e:
            rows.append(Row(n, None, str(e)))
            continue
        rows.append(Row(n, event))
    return rows


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "csv", "jsonl"]),
    default="auto",
    show_default=True,
    help="auto: .csv is CSV, anything else JSON lines.",
)
@click.option("--dry-run", is_flag=True, help="Check the file and report; store nothing.")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the good records even if some are bad (default: import nothing then).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal).",
)
@data_dir_option
def import_carts(
    fmt: str,
    file: Path,
    dry_run: bool,
    skip_invalid: bool,
    progress: bool | None,
    data_dir: Path,
) -> None:
    """Backfill carts from a CSV or JSON-lines FILE of cart events (the webhook's fields, one
    record each; in CSV, ``items`` is a JSON array).

    Every record goes through the same intake as the webhook: idempotent, out-of-order safe.
    Carts older than the rules doc's maximum age are recorded and closed as too old at once:
    an import never emails a stale cart."""
    if fmt == "auto":
        fmt = "csv" if file.suffix.lower() == ".csv" else "jsonl"
    now = datetime.now(UTC)
    try:
        rows = read_backfill(file, fmt, now)
    except (UnicodeDecodeError, csv.Error) as e:
        raise click.ClickException(f"{file}: {e}") from None
    bad = [r for r in rows if r.event is None]
    for r in bad:
        click.echo(f"{file}:{r.line}: {r.problem}", err=True)
    good = [r.event for r in rows if r.event is not None]
    if bad and not skip_invalid:
        click.echo(
            f"{len(bad)} bad record(s): nothing imported (fix them, or use --skip-invalid)",
            err=True,
        )
        sys.exit(1)
    if dry_run:
        click.echo(f"{len(good)} record(s) would be imported, {len(bad)} skipped")
        return
    show = sys.stderr.isatty() if progress is None else progress
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show,
    )
    with open_data_dir(data_dir) as rt:
        accepted = duplicates = too_old = 0
        rules = rt.docs.rules()
        seen: set[str] = set()
        with bar:
            task = bar.add_task("importing", total=len(good))
            for event in sorted(good, key=lambda e: e.occurred_at):  # oldest first, as they were
                if rt.service.ingest(event, now):
                    accepted += 1
                else:
                    duplicates += 1
                seen.add(event.cart_id)
                bar.advance(task)
            task = bar.add_task("checking ages", total=len(seen))
            for cart_id in sorted(seen):
                cart, _ = rt.store.load(cart_id)
                if cart is not None and cart.is_open and now - cart.abandoned_at > rules.max_age:
                    rt.service.wake(cart_id, now)  # decides "too old": closed, never reminded
                    too_old += 1
                bar.advance(task)
    click.echo(
        f"imported {accepted} event(s) for {len(seen)} cart(s); {duplicates} already there; "
        f"{too_old} cart(s) older than {_days(rules.max_age)} closed without a reminder; "
        f"{len(bad)} bad record(s) skipped"
    )


def _days(age: Any) -> str:
    days = age.days
    return f"{days} day{'s' if days != 1 else ''}" if days else str(age)
