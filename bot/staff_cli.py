"""`satupintu staff …`: add, invite, list, disable and mark staff away or back, for scripted
deployments and for the first admin, before anyone can use a chat invite.

Each command is the console's staff admin action, through the same workflow functions
(workflows/staff.py, workflows/signin.py), audited with the actor `cli`; a command works with
the process's services built as the server builds them (bot/app.py)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from bot.channels.registry import load_settings
from bot.clock import utc_now
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from workflows import audit, config_store, signin
from workflows import staff as records
from workflows.services import Services


def register(commands: Any) -> None:
    staff = commands.add_parser("staff", help="manage officers, supervisors and admins")
    actions = staff.add_subparsers(dest="staff_command", required=True)

    add = actions.add_parser("add", help="register a staff member")
    add.add_argument("--name", required=True)
    _scope_arguments(add)
    add.add_argument("--telegram-user-id")
    add.add_argument("--whatsapp-number")
    add.add_argument("--language", choices=("id", "en"), default="id")
    add.set_defaults(run=_add)

    invite = actions.add_parser("invite", help="print a one-time join link")
    _scope_arguments(invite)
    invite.set_defaults(run=_invite)

    listing = actions.add_parser("list", help="list staff")
    listing.set_defaults(run=_list)

    password = actions.add_parser("password", help="set a staff member's console username and password")
    password.add_argument("id", type=int)
    password.add_argument("--username", required=True)
    password.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    password.set_defaults(run=_password)

    link = actions.add_parser("console-link", help="print a one-time console sign-in link (the first admin)")
    link.add_argument("id", type=int)
    link.set_defaults(run=_console_link)

    for name, status, text in (
        ("disable", "disabled", "stop a staff member acting (kept for the audit trail)"),
        ("away", "away", "mark on leave: no new tickets"),
        ("back", "active", "mark active again"),
    ):
        command = actions.add_parser(name, help=text)
        command.add_argument("id", type=int)
        command.set_defaults(run=_status_setter(status))


def _scope_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", required=True, choices=records.ROLES)
    parser.add_argument("--team")
    parser.add_argument("--district", action="append", default=[], help="Kemendagri code; repeat for several")
    parser.add_argument("--category", action="append", default=[], help="category key; repeat for several")


def with_session(work: Callable[[Any, Services, Settings], str]) -> int:
    """Run a command's `work` in one transaction on an up-to-date database, with the office's
    configuration as the server sees it (the files, with what admins changed in the console
    over them); print its output, or a StaffError's message on stderr with exit code 2."""
    from bot.app import build_services  # the server's wiring, loaded only when a command runs

    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    try:
        with db.session() as session:
            services = build_services(settings, stored=config_store.stored_documents(session))
            try:
                output = work(session, services, settings)
            except (records.StaffError, signin.SigninError) as error:
                print(f"error: {error}", file=sys.stderr)  # not mistaken for output by a script
                return 2
            session.commit()
    finally:
        db.close()
    print(output)
    return 0


def _scope(services: Services, args: argparse.Namespace) -> records.Scope:
    return records.check_scope(
        services.book, role=args.role, team=args.team, districts=args.district, categories=args.category
    )


def _describe(staff: Any) -> str:
    where = ",".join(staff.districts) or "all districts"
    what = ",".join(staff.categories) or "all categories"
    reach = (
        " ".join(
            filter(
                None,
                [
                    f"telegram:{staff.telegram_user_id}" if staff.telegram_user_id else None,
                    f"whatsapp:{staff.whatsapp_number}" if staff.whatsapp_number else None,
                ],
            )
        )
        or "no chat yet"
    )
    return f"{staff.id}\t{staff.name}\t{staff.role}\t{staff.team or '-'}\t{staff.status}\t{where}\t{what}\t{reach}"


def _add(args: argparse.Namespace) -> int:
    def work(session: Any, services: Services, settings: Settings) -> str:
        staff = records.add_staff(
            session,
            book=services.book,
            name=args.name,
            scope=_scope(services, args),
            telegram_user_id=args.telegram_user_id,
            whatsapp_number=args.whatsapp_number,
            language=args.language,
            by=audit.CLI,
            now=utc_now(),
            rehome=services.casework,
        )
        return f"added staff {staff.id}: {_describe(staff)}"

    return with_session(work)


def _invite(args: argparse.Namespace) -> int:
    def work(session: Any, services: Services, settings: Settings) -> str:
        invite = records.create_invite(
            session, book=services.book, scope=_scope(services, args), by=audit.CLI, now=utc_now()
        )
        lines = [f"One-time invite for a new {invite.role}, valid until {invite.expires_at:%Y-%m-%d %H:%M} UTC."]
        if settings.telegram_bot_username:
            lines.append(f"Link: https://t.me/{settings.telegram_bot_username}?start={invite.code}")
        if settings.whatsapp_display_number:
            number = records.whatsapp_id(settings.whatsapp_display_number)
            lines.append(f"WhatsApp: https://wa.me/{number}?text={quote('/start ' + invite.code)}")
        lines.append(f"Or send the bot: /start {invite.code}")
        return "\n".join(lines)

    return with_session(work)


def _list(args: argparse.Namespace) -> int:
    def work(session: Any, services: Services, settings: Settings) -> str:
        rows = records.list_staff(session)
        return "\n".join(["id\tname\trole\tteam\tstatus\tdistricts\tcategories\tchat", *map(_describe, rows)])

    return with_session(work)


def _status_setter(status: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        def work(session: Any, services: Services, settings: Settings) -> str:
            staff = records.set_status(
                session, staff_id=args.id, status=status, by=audit.CLI, now=utc_now(), rehome=services.casework
            )
            return f"staff {staff.id} ({staff.name}) is now {staff.status}"

        return with_session(work)

    return run


def _password(args: argparse.Namespace) -> int:
    if args.password_stdin:
        secret = sys.stdin.readline().rstrip("\n")
    else:
        secret = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != secret:
            print("error: the two passwords differ", file=sys.stderr)
            return 2

    def work(session: Any, services: Services, settings: Settings) -> str:
        staff = records.get_staff(session, args.id)
        signin.set_password(session, staff=staff, username=args.username, password=secret, by=audit.CLI, now=utc_now())
        return f"staff {staff.id} ({staff.name}) signs in to the console as {staff.username}"

    return with_session(work)


def _console_link(args: argparse.Namespace) -> int:
    def work(session: Any, services: Services, settings: Settings) -> str:
        staff = records.get_staff(session, args.id)
        url = signin.issue_link(session, staff=staff, console_url=services.console_url, now=utc_now())
        minutes = int(signin.LINK_VALID.total_seconds() // 60)
        return f"One-time sign-in link for {staff.name}, valid {minutes} minutes:\n{url}"

    return with_session(work)
