"""The Owners page: who may log in to the dashboard (never a hash), adding an owner (a password
typed twice, or a personal token shown once, on the answer to the form and never again), and
removing one after a confirmation. The rules and their words are ``service.owners.OwnerLogins``'s,
the same as ``cart-recovery owner``'s; each change is logged there with the acting owner's name.

While no owner is named, the admin token logs in as the unnamed owner: adding the first owner
turns that login off (this session too), so the form asks to confirm it first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from cart_recovery.domain.owners import MIN_PASSWORD, UNNAMED, OwnerAccount, OwnerError
from cart_recovery.ports import OwnerExists
from cart_recovery.web.admin.context import Admin, Form, run

VIA = "dashboard"  # where an owner change came from, in its log line
FIRST_UNCONFIRMED = (
    "Tick the box to confirm that the admin token stops logging in once this owner is added."
)


@dataclass(frozen=True)
class OwnerRow:
    name: str
    email: str
    logs_in_with: str  # "password" or "token"
    created: str  # store time
    last_login: str
    you: bool


def owner_rows(admin: Admin, who: str) -> list[OwnerRow]:
    fmt = admin.fmt()
    return [
        OwnerRow(
            a.name,
            a.email,
            a.logs_in_with,
            fmt.when(a.created),
            fmt.when(a.last_login) if a.last_login else "never",
            a.name.casefold() == who.casefold(),
        )
        for a in admin.guard.logins.accounts.owners()
    ]


async def _page(admin: Admin, request: Request, code: int = 200, **values: Any) -> Response:
    who = admin.owner(request)
    rows = await run(owner_rows, admin, who)
    return admin.page(
        request,
        "admin/owners.html",
        code,
        nav="owners",
        owners=rows,
        unnamed=who == UNNAMED,
        min_password=MIN_PASSWORD,
        error=values.pop("error", ""),
        form=values.pop("form", {}),
        **values,
    )


async def owners_page(admin: Admin, request: Request) -> Response:
    """GET: the owners, and the form that adds one."""
    return await _page(admin, request)


def _add(admin: Admin, form: Form, by: str) -> tuple[OwnerAccount, str, bool]:
    """The new owner, their token ("" for a password) and whether they are the first."""
    logins = admin.guard.logins
    first = not logins.named()
    if first and form.get("first") != "yes":
        raise OwnerError(FIRST_UNCONFIRMED)
    name, email, now = form.get("name"), form.get("email"), admin.now()
    if form.get("login") == "token":
        account, token = logins.add_with_token(name, email, now, by=by, via=VIA)
        return account, token, first
    account = logins.add_with_password(
        name, email, form.get("password"), now, again=form.get("again"), by=by, via=VIA
    )
    return account, "", first


async def add_owner(admin: Admin, request: Request) -> Response:
    """POST: add an owner. A personal token is shown on this answer only (no-store), never
    kept but as its hash; the first owner's answer also says the admin token login is off."""
    form = await admin.checked_form(request)
    if isinstance(form, Response):
        return form
    by = admin.owner(request)
    try:
        account, token, first = await run(_add, admin, form, by)
    except (OwnerError, OwnerExists) as e:
        kept = {k: form.get(k) for k in ("name", "email", "login")}
        return await _page(admin, request, 400, error=str(e)[:300], form=kept)
    if first:
        # The unnamed owner's session ended with the first named owner: say so, and forget it.
        session_id = request.session.get("sid")
        if isinstance(session_id, str):
            await run(admin.guard.logins.log_out, session_id)
        request.session.clear()
    if token or first:
        return admin.page(
            request,
            "admin/owner_added.html",
            account=account,
            token=token,
            first=first,
            bare=first,
            nav="owners",
        )
    admin.flash(request, f"{account.name} <{account.email}> is an owner now.")
    return RedirectResponse("/admin/owners", status_code=303)


async def confirm_remove(admin: Admin, request: Request) -> Response:
    """GET: what removing the owner does, with the one button that does it."""
    name = request.query_params.get("name", "").strip()
    found = await run(admin.guard.logins.accounts.owner_named, name) if name else None
    if found is None:
        return admin.page(
            request,
            "admin/message.html",
            404,
            nav="owners",
            title="No such owner",
            message=f"No owner is named {name!r}.",
        )
    you = found.name.casefold() == admin.owner(request).casefold()
    last = you and len(await run(admin.guard.logins.accounts.owners)) <= 1
    return admin.page(
        request, "admin/owner_remove.html", nav="owners", account=found, you=you, last=last
    )


async def remove_owner(admin: Admin, request: Request) -> Response:
    """POST: the owner is removed and every session of theirs ends at once (this one too,
    when they removed themselves)."""
    form = await admin.checked_form(request)
    if isinstance(form, Response):
        return form
    by = admin.owner(request)
    logins = admin.guard.logins
    try:
        gone = await run(lambda: logins.remove(form.get("name"), by=by, via=VIA))
    except OwnerError as e:
        admin.flash(request, str(e)[:300], "error")
        return RedirectResponse("/admin/owners", status_code=303)
    if gone.name.casefold() == by.casefold():
        request.session.clear()
        admin.flash(request, "You removed yourself as an owner: your sessions have ended.")
        return RedirectResponse("/admin/login", status_code=303)
    admin.flash(request, f"{gone.name} is removed; their dashboard sessions have ended.")
    return RedirectResponse("/admin/owners", status_code=303)
