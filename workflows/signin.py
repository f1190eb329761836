"""Signing staff in to the web console: one-time links sent to their chat, passwords, sessions.

Secrets never rest in the database as themselves: links and session cookies are random tokens
of which only a SHA-256 is kept (they are long and random, so a fast hash is enough), and
passwords are argon2id hashes (argon2-cffi: the PHC winner, maintained, with parameters that
upgrade themselves through `check_needs_rehash`). Failed sign-ins are counted per username and
per address; past the limit the form answers "wait" without looking at the password, so a
guesser gets a handful of tries per quarter hour instead of thousands.

The console, the chat desk (`/console`) and the CLI all sign staff in through here. It knows
nothing of tickets or chats: it makes a link, and its caller delivers it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlmodel import Session, col

from storage.models import ConsoleSession, SigninFailure, SigninLink, Staff, stored_id
from workflows.audit import Actor, record, record_by
from workflows.engine import Say

LINK_VALID = timedelta(minutes=15)
SESSION_IDLE = timedelta(hours=12)  # a console left open overnight asks again in the morning
SESSION_LONGEST = timedelta(days=7)
FAILURES_ALLOWED = 5
FAILURE_WINDOW = timedelta(minutes=15)
PASSWORD_MIN = 10
USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")

_hasher = PasswordHasher()
# Checked when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class SigninError(ValueError):
    """A username or password that cannot be set; the message names the rule."""


@dataclass(frozen=True)
class SignedIn:
    staff: Staff
    session: ConsoleSession
    stale: bool = False  # last seen over a minute ago: `touch_session` keeps the idle time sliding


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------------- passwords
def set_password(session: Session, *, staff: Staff, username: str, password: str, by: Actor, now: datetime) -> None:
    """New console credentials for `staff`, set by an admin, themselves or the CLI (`by`):
    audited, and every session of theirs ends."""
    username = username.strip().lower()
    if not (3 <= len(username) <= 64) or not set(username) <= USERNAME_CHARS:
        raise SigninError("a username is 3-64 of a-z 0-9 . _ -")
    if len(password) < PASSWORD_MIN:
        raise SigninError(f"a password needs at least {PASSWORD_MIN} characters")
    taken = session.execute(
        select(col(Staff.id)).where(col(Staff.username) == username, col(Staff.id) != staff.id)
    ).first()
    if taken is not None:
        raise SigninError(f"username {username!r} is taken")
    staff.username, staff.password_hash = username, _hasher.hash(password)
    close_all_sessions(session, staff_id=staff.id)  # type: ignore[arg-type]
    record_by(session, actor=by, action="staff.password", subject=f"staff:{staff.id}", now=now)


def throttled(session: Session, *, keys: list[str], now: datetime) -> bool:
    since = now - FAILURE_WINDOW
    busiest = session.execute(
        select(func.count())
        .where(col(SigninFailure.key).in_(keys), col(SigninFailure.at) > since)
        .group_by(col(SigninFailure.key))
        .order_by(func.count().desc())
        .limit(1)
    ).scalar()
    return (busiest or 0) >= FAILURES_ALLOWED


def check_password(session: Session, *, username: str, password: str, address: str, now: datetime) -> Staff | str:
    """The staff member, or why not: "throttled" (too many failures lately) or "wrong"."""
    username = username.strip().lower()[:64]
    keys = [f"user:{username}", f"addr:{address}"]
    if throttled(session, keys=keys, now=now):
        return "throttled"
    staff = session.execute(select(Staff).where(col(Staff.username) == username)).scalars().first()
    try:
        _hasher.verify(staff.password_hash if staff and staff.password_hash else _DUMMY_HASH, password)
        ok = staff is not None and staff.password_hash is not None and staff.status != "disabled"
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or staff is None:
        session.add_all([SigninFailure(key=key, at=now) for key in keys])
        session.execute(delete(SigninFailure).where(col(SigninFailure.at) < now - FAILURE_WINDOW * 4))
        return "wrong"
    if _hasher.check_needs_rehash(staff.password_hash or ""):
        staff.password_hash = _hasher.hash(password)
    return staff


# ---------------------------------------------------------------------- one-time links
def create_link(session: Session, *, staff: Staff, now: datetime) -> str:
    """A fresh sign-in token for `staff`; earlier unused links stop working."""
    session.execute(
        update(SigninLink)
        .where(col(SigninLink.staff_id) == staff.id, col(SigninLink.used_at).is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        SigninLink(
            token_hash=digest(token),
            staff_id=stored_id(staff),
            created_at=now,
            expires_at=now + LINK_VALID,
        )
    )
    return token


def redeem_link(session: Session, *, token: str, now: datetime) -> Staff | None:
    link = (
        session.execute(select(SigninLink).where(col(SigninLink.token_hash) == digest(token[:100])).with_for_update())
        .scalars()
        .first()
    )
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    link.used_at = now
    staff = session.get(Staff, link.staff_id)
    return staff if staff is not None and staff.status != "disabled" else None


# ---------------------------------------------------------------------- sessions
def open_session(session: Session, *, staff: Staff, how: str, now: datetime) -> str:
    """Start a console session; returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=digest(token),
            staff_id=stored_id(staff),
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_LONGEST,
        )
    )
    record(session, staff_id=staff.id, action="signin", subject=how, now=now)
    return token


def load_session(session: Session, *, token: str, now: datetime) -> SignedIn | None:
    """The session behind a cookie, if still good; sliding idle time, fixed longest life.
    Only reads (a page is answered even while another process holds SQLite's write lock)."""
    row = (
        session.execute(select(ConsoleSession).where(col(ConsoleSession.token_hash) == digest(token[:100])))
        .scalars()
        .first()
    )
    if row is None or row.expires_at <= now or row.last_seen_at + SESSION_IDLE <= now:
        return None
    staff = session.get(Staff, row.staff_id)
    if staff is None or staff.status == "disabled":
        return None
    return SignedIn(staff, row, stale=now - row.last_seen_at > timedelta(minutes=1))  # one write a minute, not per page


def touch_session(session: Session, *, session_id: int, now: datetime) -> None:
    """Slide a session's idle time: it was used at `now`."""
    session.execute(update(ConsoleSession).where(col(ConsoleSession.id) == session_id).values(last_seen_at=now))


def close_session(session: Session, *, token: str, now: datetime) -> None:
    row = (
        session.execute(select(ConsoleSession).where(col(ConsoleSession.token_hash) == digest(token[:100])))
        .scalars()
        .first()
    )
    if row is not None:
        record(session, staff_id=row.staff_id, action="signout", now=now)
        session.delete(row)


def close_all_sessions(session: Session, *, staff_id: int) -> None:
    """Sign a staff member out everywhere (a new password, a disabled account)."""
    session.execute(delete(ConsoleSession).where(col(ConsoleSession.staff_id) == staff_id))


def issue_link(session: Session, *, staff: Staff, console_url: str, now: datetime) -> str:
    """A fresh one-time sign-in address for `staff`. Sign-in only makes it: the caller says
    how it reaches them (their chat for the desk and the sign-in page, the terminal for the CLI)."""
    token = create_link(session, staff=staff, now=now)
    return f"{console_url.rstrip('/')}/console/signin/link/{token}"


def link_message(url: str) -> Say:
    """The chat message that carries a sign-in link."""
    return Say("desk/signin_link", {"url": url, "minutes": int(LINK_VALID.total_seconds() // 60)})


def request_link(session: Session, *, username: str, address: str, now: datetime) -> Staff | str | None:
    """A link asked for on the sign-in page by username: the staff member to send one to, or
    None (unknown or disabled: the page says "sent" all the same, so the form reveals no
    usernames), or "throttled". Each request counts against the name and the address, so the
    form cannot flood anyone's chat."""
    username = username.strip().lower()[:64]
    keys = [f"link:{username}", f"addr:{address}"]
    if throttled(session, keys=keys, now=now):
        return "throttled"
    session.add_all([SigninFailure(key=key, at=now) for key in keys])
    staff = session.execute(select(Staff).where(col(Staff.username) == username)).scalars().first()
    return staff if staff is not None and staff.status != "disabled" else None
