"""Sign-in and sign-out pages.

A link from the chat opens a page with one button rather than signing in on the GET: chat apps
fetch links to draw previews, and a preview must not use up (or use) the one-time link.
"""

from __future__ import annotations

from aiohttp import web
from sqlmodel import Session

from bot.console.core import (
    PREFIX,
    SESSION_COOKIE,
    STAFF,
    client_address,
    console_of,
    end_session,
    form_of,
    redirect,
    render,
    safe_next,
    signed_in,
    start_session,
)
from storage.models import Staff, stored_id
from workflows import signin


async def signin_page(request: web.Request) -> web.Response:
    if request.get(STAFF) is not None:
        raise redirect(safe_next(request.query.get("next")))
    return render(
        request,
        "console/signin.html",
        next=safe_next(request.query.get("next")),
        error=None,
        username="",
        link_sent=False,
    )


async def signin_password(request: web.Request) -> web.Response:
    console = console_of(request)
    form = await form_of(request)
    username, password = str(form.get("username", ""))[:64], str(form.get("password", ""))[:1024]
    target = safe_next(str(form.get("next", "")))
    outcome = await console.run(
        signin.check_password, username=username, password=password, address=client_address(request), now=console.now()
    )
    if isinstance(outcome, str):
        return render(
            request,
            "console/signin.html",
            status=429 if outcome == "throttled" else 401,
            next=target,
            error=outcome,
            username=username,
            link_sent=False,
        )
    token = await console.run(signin.open_session, staff=outcome, how="password", now=console.now())
    response = redirect(target)
    start_session(request, response, token)
    raise response


async def signin_ask_link(request: web.Request) -> web.Response:
    """Send a link to the chat of the staff member with this username. The answer is the same
    whether the name exists or not, so the form cannot be used to find usernames."""
    console = console_of(request)
    form = await form_of(request)
    username = str(form.get("username", "")).strip().lower()[:64]
    address = client_address(request)

    def ask(session: Session) -> str:
        wanted = signin.request_link(session, username=username, address=address, now=console.now())
        if isinstance(wanted, Staff):
            console.services.send_signin_link(session, wanted, console.now())
        return "throttled" if wanted == "throttled" else "sent"

    outcome = await console.run(ask)
    return render(
        request,
        "console/signin.html",
        status=429 if outcome == "throttled" else 200,
        next=PREFIX + "/",
        error=outcome if outcome == "throttled" else None,
        username=username,
        link_sent=outcome == "sent",
    )


async def link_page(request: web.Request) -> web.Response:
    return render(request, "console/signin_link.html", token=request.match_info["token"][:100], error=None)


async def link_redeem(request: web.Request) -> web.Response:
    console = console_of(request)
    token = request.match_info["token"][:100]

    def redeem(session: Session) -> str | None:
        staff = signin.redeem_link(session, token=token, now=console.now())
        return signin.open_session(session, staff=staff, how="link", now=console.now()) if staff else None

    session_token = await console.run(redeem)
    if session_token is None:
        return render(request, "console/signin_link.html", status=410, token=token, error="expired")
    response = redirect(PREFIX + "/")
    start_session(request, response, session_token)
    raise response


async def signout(request: web.Request) -> web.Response:
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await console.run(signin.close_session, token=token, now=console.now())
    response = redirect(PREFIX + "/signin")
    end_session(response)
    raise response


async def account(request: web.Request) -> web.Response:
    """Who you are signed in as, and a password of your own (to sign in without the chat)."""
    staff = signed_in(request)
    return render(request, "console/account.html", error=None, saved=False, username=staff.username or "")


async def account_password(request: web.Request) -> web.Response:
    """A new username and password; the current password first when there is one, so a browser
    left signed in cannot be used to take the account over."""
    console = console_of(request)
    staff = signed_in(request)
    form = await form_of(request)
    username, password = str(form.get("username", ""))[:64], str(form.get("password", ""))[:1024]
    current = str(form.get("current", ""))[:1024]

    def change(session: Session) -> tuple[str | None, str | None]:
        member = session.get(Staff, staff.id)
        assert member is not None  # signed in: staff rows are disabled, never deleted
        if member.password_hash:
            checked = signin.check_password(
                session,
                username=member.username or "",
                password=current,
                address=client_address(request),
                now=console.now(),
            )
            if not isinstance(checked, Staff) or checked.id != member.id:
                return ("throttled" if checked == "throttled" else "current"), None
        try:
            signin.set_password(
                session, staff=member, username=username, password=password, by=stored_id(staff), now=console.now()
            )
        except signin.SigninError:
            return "rules", None
        return None, signin.open_session(session, staff=member, how="password_changed", now=console.now())

    error, token = await console.run(change)
    if token is None:
        return render(request, "console/account.html", status=400, error=error, saved=False, username=username)
    response = render(request, "console/account.html", error=None, saved=True, username=username.strip().lower())
    start_session(request, response, token)  # the change signed every other browser out; this one stays
    return response


def routes() -> list[web.RouteDef]:
    return [
        web.get(PREFIX + "/signin", signin_page),
        web.post(PREFIX + "/signin", signin_password),
        web.post(PREFIX + "/signin/link", signin_ask_link),
        web.get(PREFIX + "/signin/link/{token}", link_page),
        web.post(PREFIX + "/signin/link/{token}", link_redeem),
        web.post(PREFIX + "/signout", signout),
        web.get(PREFIX + "/account", account),
        web.post(PREFIX + "/account", account_password),
    ]
