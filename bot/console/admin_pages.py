"""Administration: the office's areas, categories and service standards, routing, referral
agencies, staff, a preview of every chat message, and the audit trail. Admins only.

A configuration change goes through `workflows.config_store.change` (validated as the YAML
files are, stored, audited) and, once stored, is put to use by this process at once
(`Services.use_book`); the other processes take it up within seconds (`Services.refresh`).
Every page answers a refused change with the same page and the reason, and a stored one with a
redirect (so a reload does not post again).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from urllib.parse import quote

from aiohttp import web
from jinja2 import TemplateError
from sqlmodel import Session

from bot.console.core import PREFIX, console_of, form_of, not_found, redirect, render, require_role
from bot.settings import Settings
from storage.models import Staff, stored_id
from workflows import config_store, signin
from workflows import staff as records
from workflows.console import district_import
from workflows.console.samples import sample
from workflows.flowbook import SLA_STAGES, CategoryGroup, CategoryType
from workflows.texts import LANGUAGES

ADMIN = PREFIX + "/admin"
OVERRIDES = web.RequestKey("config_overrides", dict[str, config_store.Override])  # documents over their files
# Where each stored document is edited: the page an admin returns to after going back to the file.
DOCUMENT_PAGES = {"areas": ADMIN + "/areas", "categories": ADMIN + "/categories", "office": ADMIN + "/routing"}
DOCUMENTS = "|".join(DOCUMENT_PAGES)
Page = Callable[..., Awaitable[web.Response]]


# ---------------------------------------------------------------------- shared
def _group_and_types(group: CategoryGroup) -> list[CategoryGroup | CategoryType]:
    """A first-menu group and the types under it: each has its own service standard."""
    return [group, *group.types]


def _admin(request: web.Request) -> Staff:
    return require_role(request, "admin")


def _text(form: Any, name: str, limit: int = 200) -> str:
    return str(form.get(name, ""))[:limit]


async def _versions(request: web.Request) -> dict[str, int]:
    """The stored versions the forms carry; on the way, this process takes up any change
    another process saved since its last check, and notes which documents stand in for their
    files (`_render` shows it)."""
    console = console_of(request)

    def read(session: Session) -> dict[str, int]:
        console.services.refresh(session)
        request[OVERRIDES] = config_store.overrides(session)
        return config_store.versions(session)

    return await console.run(read)


def _render(request: web.Request, template: str, **context: Any) -> web.Response:
    """A configuration page, with the notice of each document saved in the console over its file."""
    return render(request, template, overrides=request.get(OVERRIDES, {}), **context)


async def _save(
    request: web.Request, name: str, edit: config_store.Edit, *, done: str, again: Page, **again_args: Any
) -> web.Response:
    """Store one change and use it at once; a refused one shows the page again with why."""
    console = console_of(request)
    staff = _admin(request)
    form = await form_of(request)
    try:
        version = config_store.number(form.get("version")) or 0
        book = await console.run(
            config_store.change,
            book=console.services.book,
            name=name,
            edit=edit,
            version=version,
            staff_id=staff.id,
            now=console.now(),
        )
    except config_store.Refused as refused:
        return await again(request, refused=refused, status=400, **again_args)
    console.services.use_book(book)
    raise redirect(done + "?saved=1")


def _index(request: web.Request) -> int:
    return int(request.match_info["index"]) - 1  # positions are shown from 1


# ---------------------------------------------------------------------- index and audit trail
async def index_page(request: web.Request) -> web.Response:
    _admin(request)
    console = console_of(request)
    before = request.query.get("before", "")
    page = await console.run(
        config_store.trail, before_id=int(before) if before.isdigit() and len(before) < 12 else None
    )
    return render(request, "console/admin/index.html", trail=page)


# ---------------------------------------------------------------------- areas
async def areas_page(
    request: web.Request, *, refused: config_store.Refused | None = None, status: int = 200
) -> web.Response:
    _admin(request)
    versions = await _versions(request)
    return _render(
        request,
        "console/admin/areas.html",
        status=status,
        version=versions["areas"],
        refused=refused,
        saved="saved" in request.query,
    )


async def district_page(
    request: web.Request, *, refused: config_store.Refused | None = None, status: int = 200
) -> web.Response:
    _admin(request)
    versions = await _versions(request)
    district = console_of(request).services.book.areas.district(request.match_info["code"])
    if district is None:
        raise not_found(request)
    return _render(
        request,
        "console/admin/district.html",
        status=status,
        district=district,
        version=versions["areas"],
        refused=refused,
        saved="saved" in request.query,
    )


async def district_add(request: web.Request) -> web.Response:
    form = await form_of(request)
    edit = partial(
        config_store.add_district,
        code=_text(form, "code", 16),
        name=_text(form, "name"),
        village_code=_text(form, "village_code", 16),
        village_name=_text(form, "village_name"),
    )
    return await _save(request, "areas", edit, done=ADMIN + "/areas", again=areas_page)


async def district_rename(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    form = await form_of(request)
    edit = partial(config_store.rename_district, code=code, name=_text(form, "name"))
    return await _save(request, "areas", edit, done=f"{ADMIN}/areas/{code}", again=district_page)


async def village_add(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    form = await form_of(request)
    edit = partial(
        config_store.add_village, code=f"{code}.{_text(form, 'number', 8).strip()}", name=_text(form, "name")
    )
    return await _save(request, "areas", edit, done=f"{ADMIN}/areas/{code}", again=district_page)


async def village_rename(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    form = await form_of(request)
    edit = partial(config_store.rename_village, code=_text(form, "village", 16), name=_text(form, "name"))
    return await _save(request, "areas", edit, done=f"{ADMIN}/areas/{code}", again=district_page)


async def areas_import(request: web.Request) -> web.Response:
    """Step one shows what the file would change (or its bad rows); step two applies it. The
    text travels in the preview's form, so the admin applies exactly what they saw."""
    _admin(request)
    form = await form_of(request)
    upload = form.get("file")
    if upload is not None and hasattr(upload, "file"):
        text = district_import.decode(upload.file.read())
    else:
        text = str(form.get("content", ""))
    if text is None:
        return await areas_page(request, refused=config_store.Refused("encoding"), status=400)
    if form.get("step") == "apply":
        return await _save(
            request,
            "areas",
            partial(district_import.apply, text=text),
            done=ADMIN + "/areas",
            again=_import_page,
            text=text,
        )
    return await _import_page(request, text=text)


async def _import_page(
    request: web.Request, *, text: str, refused: config_store.Refused | None = None, status: int = 200
) -> web.Response:
    versions = await _versions(request)
    plan = district_import.plan(console_of(request).services.book.areas, text)
    return _render(
        request,
        "console/admin/import.html",
        status=400 if plan.problems else status,
        plan=plan,
        text=text,
        version=versions["areas"],
        refused=refused,
    )


# ---------------------------------------------------------------------- categories and service standards
async def categories_page(
    request: web.Request, *, refused: config_store.Refused | None = None, status: int = 200
) -> web.Response:
    _admin(request)
    await _versions(request)
    return _render(
        request, "console/admin/categories.html", status=status, refused=refused, saved="saved" in request.query
    )


async def category_page(
    request: web.Request, *, refused: config_store.Refused | None = None, status: int = 200
) -> web.Response:
    _admin(request)
    versions = await _versions(request)
    book = console_of(request).services.book
    key = request.match_info["key"]
    found = next(
        (
            (kind, group, item)
            for kind in ("complaint", "service")
            for group in book.categories.groups(kind)
            for item in _group_and_types(group)
            if item.key == key
        ),
        None,
    )
    if found is None:
        raise not_found(request)
    kind, group, item = found
    standards = book.office.service_standards
    return _render(
        request,
        "console/admin/category.html",
        status=status,
        kind=kind,
        group=group,
        item=item,
        is_group=item is group,
        own=standards.categories.get(key),
        defaults=getattr(standards, kind),
        stages=SLA_STAGES,
        versions=versions,
        refused=refused,
        saved="saved" in request.query,
    )


async def category_labels(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    form = await form_of(request)
    edit = partial(config_store.set_labels, key=key, label_id=_text(form, "label_id"), label_en=_text(form, "label_en"))
    return await _save(request, "categories", edit, done=f"{ADMIN}/categories/{key}", again=category_page)


async def category_standards(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    form = await form_of(request)

    def edit(document: config_store.Document) -> dict[str, Any]:
        days = {stage: config_store.number(form.get(stage)) for stage in SLA_STAGES}
        return config_store.set_standards(document, category=key, days=days)

    return await _save(request, "office", edit, done=f"{ADMIN}/categories/{key}", again=category_page)


async def category_add_type(request: web.Request) -> web.Response:
    group = request.match_info["key"]
    form = await form_of(request)
    edit = partial(
        config_store.add_type,
        group=group,
        key=_text(form, "key", 32),
        label_id=_text(form, "label_id"),
        label_en=_text(form, "label_en"),
    )
    return await _save(request, "categories", edit, done=f"{ADMIN}/categories/{group}", again=category_page)


# ---------------------------------------------------------------------- routing
async def routing_page(
    request: web.Request, *, refused: config_store.Refused | None = None, status: int = 200
) -> web.Response:
    _admin(request)
    versions = await _versions(request)
    return _render(
        request,
        "console/admin/routing.html",
        status=status,
        version=versions["office"],
        refused=refused,
        saved="saved" in request.query,
    )


async def rule_page(
    request: web.Request, *, refused: config_store.Refused | None = None, status: int = 200
) -> web.Response:
    _admin(request)
    versions = await _versions(request)
    routing = console_of(request).services.book.office.routing
    index = _index(request) if "index" in request.match_info else None
    if index is not None and not 0 <= index < len(routing):
        raise not_found(request)
    rule = routing[index] if index is not None else None
    return _render(
        request,
        "console/admin/rule.html",
        status=status,
        index=index,
        rule=rule,
        version=versions["office"],
        refused=refused,
    )


async def rule_save(request: web.Request) -> web.Response:
    index = _index(request) if "index" in request.match_info else None
    form = await form_of(request)
    edit = partial(
        config_store.save_rule,
        index=index,
        team=_text(form, "team", 32),
        categories=form.getall("categories", []),
        districts=form.getall("districts", []),
    )
    return await _save(request, "office", edit, done=ADMIN + "/routing", again=rule_page)


async def rule_move(request: web.Request) -> web.Response:
    form = await form_of(request)
    edit = partial(config_store.move_rule, index=_index(request), step=-1 if form.get("direction") == "up" else 1)
    return await _save(request, "office", edit, done=ADMIN + "/routing", again=routing_page)


async def rule_remove(request: web.Request) -> web.Response:
    edit = partial(config_store.remove_rule, index=_index(request))
    return await _save(request, "office", edit, done=ADMIN + "/routing", again=routing_page)


# ---------------------------------------------------------------------- referral agencies
async def agencies_page(
    request: web.Request, *, refused: config_store.Refused | None = None, status: int = 200
) -> web.Response:
    _admin(request)
    versions = await _versions(request)
    return _render(
        request,
        "console/admin/agencies.html",
        status=status,
        version=versions["office"],
        refused=refused,
        saved="saved" in request.query,
    )


async def agency_save(request: web.Request) -> web.Response:
    form = await form_of(request)
    key = request.match_info.get("key")

    def edit(document: config_store.Document) -> dict[str, Any]:
        return config_store.save_agency(
            document,
            key=key or _text(form, "key", 32),
            label_id=_text(form, "label_id"),
            label_en=_text(form, "label_en"),
            new=key is None,
            due_working_days=config_store.number(form.get("due_working_days")),
        )

    return await _save(request, "office", edit, done=ADMIN + "/agencies", again=agencies_page)


# ---------------------------------------------------------------------- back to the file
async def file_page(
    request: web.Request, *, refused: config_store.Refused | None = None, status: int = 200
) -> web.Response:
    """Confirm before forgetting what the console saved for one document."""
    _admin(request)
    name = request.match_info["name"]
    await _versions(request)
    override = request[OVERRIDES].get(name)
    if override is None:
        raise redirect(DOCUMENT_PAGES[name])  # already the file's (another admin went back first)
    return render(
        request, "console/admin/file.html", status=status, override=override, back=DOCUMENT_PAGES[name], refused=refused
    )


async def file_restore(request: web.Request) -> web.Response:
    """Go back to the YAML file: the stored document is emptied (audited) and the file's used
    here at once; the other processes take it up at their next check."""
    console = console_of(request)
    staff = _admin(request)
    name = request.match_info["name"]
    form = await form_of(request)
    try:
        book = await console.run(
            config_store.back_to_file,
            book=console.services.book,
            files=console.services.files_book,
            name=name,
            version=config_store.number(form.get("version")) or 0,
            staff_id=staff.id,
            now=console.now(),
        )
    except config_store.Refused as refused:
        return await file_page(request, refused=refused, status=400)
    console.services.use_book(book)
    raise redirect(DOCUMENT_PAGES[name] + "?saved=1")


# ---------------------------------------------------------------------- staff
async def staff_page(
    request: web.Request, *, refused: str | None = None, detail: str = "", status: int = 200, invite: Any = None
) -> web.Response:
    _admin(request)
    console = console_of(request)
    await _versions(request)
    members = await console.run(lambda session: list(records.list_staff(session)))
    return render(
        request,
        "console/admin/staff.html",
        status=status,
        members=members,
        refused=refused,
        detail=detail,
        invite=invite,
        links=_invite_links(console.settings, invite.code) if invite else {},
        roles=records.ROLES,
        saved="saved" in request.query,
    )


def _invite_links(settings: Settings, code: str) -> dict[str, str]:
    """Links that open the chat with the invite typed in, for the platforms this office runs."""
    links = {}
    if settings.telegram_bot_username:
        links["Telegram"] = f"https://t.me/{settings.telegram_bot_username}?start={code}"
    if settings.whatsapp_display_number:
        number = records.whatsapp_id(settings.whatsapp_display_number)
        links["WhatsApp"] = f"https://wa.me/{number}?text={quote('/start ' + code)}"
    return links


def _scope(request: web.Request, form: Any) -> records.Scope:
    return records.check_scope(
        console_of(request).services.book,
        role=_text(form, "role", 16),
        team=_text(form, "team", 32) or None,
        districts=form.getall("districts", []),
        categories=(),
    )


async def staff_add(request: web.Request) -> web.Response:
    admin = _admin(request)
    console = console_of(request)
    form = await form_of(request)

    def add(session: Session) -> Staff:
        scope = _scope(request, form)
        member = records.add_staff(
            session,
            book=console.services.book,
            name=_text(form, "name", 128),
            scope=scope,
            telegram_user_id=_text(form, "telegram_user_id", 32).strip() or None,
            whatsapp_number=_text(form, "whatsapp_number", 32).strip() or None,
            language=_text(form, "language", 8) if form.get("language") in LANGUAGES else "id",
            by=stored_id(admin),
            now=console.now(),
            rehome=console.services.casework,
        )
        return member

    try:
        member = await console.run(add)
    except records.StaffError as error:
        return await staff_page(request, refused="staff", detail=str(error), status=400)
    raise redirect(f"{ADMIN}/staff/{member.id}?saved=1")


async def staff_invite(request: web.Request) -> web.Response:
    """A one-time join link: whoever opens it in the chat becomes staff with this scope."""
    admin = _admin(request)
    console = console_of(request)
    form = await form_of(request)

    def invite(session: Session) -> Any:
        scope = _scope(request, form)
        return records.create_invite(
            session,
            book=console.services.book,
            scope=scope,
            by=admin.id,  # type: ignore[arg-type]
            now=console.now(),
        )

    try:
        made = await console.run(invite)
    except records.StaffError as error:
        return await staff_page(request, refused="staff", detail=str(error), status=400)
    return await staff_page(request, invite=made)


async def member_page(
    request: web.Request, *, refused: str | None = None, detail: str = "", status: int = 200
) -> web.Response:
    _admin(request)
    console = console_of(request)
    member_id = int(request.match_info["id"])
    member = await console.run(lambda session: session.get(Staff, member_id))
    if member is None:
        raise not_found(request)
    return render(
        request,
        "console/admin/member.html",
        status=status,
        member=member,
        refused=refused,
        detail=detail,
        statuses=records.STATUSES,
        saved="saved" in request.query,
    )


async def member_status(request: web.Request) -> web.Response:
    """Away (no new tickets) or disabled (no access at all: signed out everywhere at once)."""
    admin = _admin(request)
    console = console_of(request)
    form = await form_of(request)
    wanted = _text(form, "status", 16)
    member_id = int(request.match_info["id"])
    if member_id == admin.id and wanted == "disabled":
        return await member_page(request, refused="self", status=400)

    try:
        await console.run(
            records.set_status,
            staff_id=member_id,
            status=wanted,
            by=admin.id,
            now=console.now(),
            rehome=console.services.casework,
        )
    except records.StaffError as error:
        return await member_page(request, refused="staff", detail=str(error), status=400)
    raise redirect(f"{ADMIN}/staff/{member_id}?saved=1")


async def member_password(request: web.Request) -> web.Response:
    """A username and password for someone to sign in to the console with (audited as
    `staff.password`; it signs them out everywhere)."""
    admin = _admin(request)
    console = console_of(request)
    form = await form_of(request)
    member_id = int(request.match_info["id"])

    def change(session: Session) -> None:
        member = records.get_staff(session, member_id)
        signin.set_password(
            session,
            staff=member,
            username=_text(form, "username", 64),
            password=_text(form, "password", 1024),
            by=stored_id(admin),
            now=console.now(),
        )

    try:
        await console.run(change)
    except (records.StaffError, signin.SigninError) as error:
        return await member_page(request, refused="password", detail=str(error), status=400)
    raise redirect(f"{ADMIN}/staff/{member_id}?saved=1")


# ---------------------------------------------------------------------- chat messages
async def templates_page(request: web.Request) -> web.Response:
    """Every chat message in both languages, rendered with sample data, to read over before a
    change of wording goes out to citizens."""
    _admin(request)
    texts = console_of(request).services.texts
    messages: list[dict[str, Any]] = []
    for key in texts.keys():
        context = sample(key)
        renders = {}
        for language in LANGUAGES:
            try:
                renders[language] = texts.render(key, language, context) if context is not None else None
            except TemplateError:
                renders[language] = None
        messages.append({"key": key, "group": key.split("/", 1)[0], "renders": renders})
    groups = sorted({m["group"] for m in messages})
    return render(request, "console/admin/templates.html", messages=messages, groups=groups, languages=LANGUAGES)


def routes() -> list[web.RouteDef]:
    return [
        web.get(ADMIN, index_page),
        web.get(ADMIN + "/areas", areas_page),
        web.post(ADMIN + "/areas", district_add),
        web.post(ADMIN + "/areas/import", areas_import),
        web.get(ADMIN + "/areas/{code}", district_page),
        web.post(ADMIN + "/areas/{code}", district_rename),
        web.post(ADMIN + "/areas/{code}/villages", village_add),
        web.post(ADMIN + "/areas/{code}/villages/rename", village_rename),
        web.get(ADMIN + "/categories", categories_page),
        web.get(ADMIN + "/categories/{key}", category_page),
        web.post(ADMIN + "/categories/{key}/labels", category_labels),
        web.post(ADMIN + "/categories/{key}/standards", category_standards),
        web.post(ADMIN + "/categories/{key}/types", category_add_type),
        web.get(ADMIN + "/routing", routing_page),
        web.get(ADMIN + "/routing/new", rule_page),
        web.post(ADMIN + "/routing/new", rule_save),
        web.get(ADMIN + r"/routing/{index:\d+}", rule_page),
        web.post(ADMIN + r"/routing/{index:\d+}", rule_save),
        web.post(ADMIN + r"/routing/{index:\d+}/move", rule_move),
        web.post(ADMIN + r"/routing/{index:\d+}/remove", rule_remove),
        web.get(ADMIN + "/agencies", agencies_page),
        web.post(ADMIN + "/agencies", agency_save),
        web.post(ADMIN + "/agencies/{key}", agency_save),
        web.get(ADMIN + f"/config/{{name:{DOCUMENTS}}}/file", file_page),
        web.post(ADMIN + f"/config/{{name:{DOCUMENTS}}}/file", file_restore),
        web.get(ADMIN + "/staff", staff_page),
        web.post(ADMIN + "/staff", staff_add),
        web.post(ADMIN + "/staff/invite", staff_invite),
        web.get(ADMIN + r"/staff/{id:\d{1,9}}", member_page),
        web.post(ADMIN + r"/staff/{id:\d{1,9}}/status", member_status),
        web.post(ADMIN + r"/staff/{id:\d{1,9}}/password", member_password),
        web.get(ADMIN + "/templates", templates_page),
    ]
