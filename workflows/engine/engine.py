"""The conversation engine: (stored state, inbound event, now) → (new state, effects).

Pure: no I/O, no clock, no globals. The same engine serves every channel, and a whole
conversation can be tested as a list of events and the effects they produce.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from workflows.engine.commands import Command, UnknownCommand, parse_command
from workflows.engine.effects import (
    DropAttachments,
    Effect,
    OpenTicket,
    Option,
    RecordConsent,
    RelayReply,
    ReopenTicket,
    Say,
    SetLanguage,
    ShowStatus,
    SubmitSurvey,
)
from workflows.engine.events import Inbound
from workflows.engine.state import ConversationState
from workflows.flowbook import FlowBook, FlowSpec, StepSpec
from workflows.validation import answers as checks
from workflows.validation.nik import mask_nik

MENU = "menu"
OWN_PHONE = "own_phone"  # the phone question's answer "the number I am writing from"
PAGE_SIZE = 8  # rows per list page, leaving room for "more" and "back" within WhatsApp's 10
LANGUAGES = {"id": ("id", "indonesia", "bahasa indonesia", "ind"), "en": ("en", "english", "inggris", "eng")}
SOURCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
REPLY_MAX = 2000  # characters of one answer to an officer's question
TICKET_ID_PATTERN = re.compile(r"[0-9]{1,9}")  # a ticket id on a button; fits a 32-bit column
UNKNOWN_WORDS = ("tidak tahu", "tdk tahu", "gak tahu", "ga tau", "nggak tahu", "tidak tau", "unknown", "don't know", "dont know")


@dataclass(frozen=True)
class Outcome:
    state: ConversationState
    effects: tuple[Effect, ...]


@dataclass(frozen=True)
class _Done:
    """The step is answered with these answers."""

    answers: dict[str, Any]
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True)
class _Retry:
    """Not an answer: say why, then ask the same question again."""

    reason: Say


@dataclass(frozen=True)
class _Stay:
    """Progress inside the step (a sub-list, a page, one more photo): ask again from `state`."""

    state: ConversationState
    effects: tuple[Effect, ...] = ()


_StepResult = _Done | _Retry | _Stay


def _fold(text: str) -> str:
    """Compare what people type with labels: case, accents and spacing do not matter."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _checked(step: StepSpec, value: Any) -> _StepResult:
    """A shared check's verdict as the engine's: the answer, or its `errors/` message."""
    if isinstance(value, checks.Invalid):
        return _Retry(Say(f"errors/{value.reason}", value.context))
    return _Done({step.answer_key: value})


class Engine:
    """Decides what to say and what to record for one office's flow book."""

    def __init__(self, book: FlowBook, *, ttl: timedelta) -> None:
        self.book = book
        self.ttl = ttl

    # ----------------------------------------------------------------- entry point
    def step(self, state: ConversationState, event: Inbound, now: datetime) -> Outcome:
        if state.flow is not None and state.expires_at is not None and now >= state.expires_at:
            expired = self._reset(state)
            effects: list[Effect] = self._drop(state)
            effects += [Say("conversation/expired"), *self._menu(expired)]
            return Outcome(expired, tuple(effects))
        new_state, effects = self._dispatch(state, event, now.date())
        expires = now + self.ttl if new_state.flow is not None else None
        return Outcome(replace(new_state, expires_at=expires), tuple(effects))

    def expects_photo(self, state: ConversationState) -> bool:
        """Whether a photo would be an answer now; the caller downloads and stores only then."""
        return self._current(state) is not None and self._current(state).type == "photos"

    # ----------------------------------------------------------------- routing
    def _dispatch(
        self, state: ConversationState, event: Inbound, today: date
    ) -> tuple[ConversationState, list[Effect]]:
        if event.kind == "text" and event.text is not None:
            command = parse_command(event.text)
            if isinstance(command, Command):
                return self._command(state, command)
            if isinstance(command, UnknownCommand):
                return state, [Say("errors/unknown_command", {"text": command.text[:40]}), *self.prompt(state)]
        if event.kind == "choice" and event.value and event.value.startswith("lang:"):
            return self._set_language(state, event.value[5:])
        if event.kind == "choice" and event.value and event.value.split(":", 1)[0] in ("rate", "reopen"):
            return self._after_resolution(state, event.value)
        if event.kind == "choice" and event.step != (state.step or MENU):
            return state, [Say("errors/stale_button"), *self.prompt(state)]
        if event.kind == "unsupported":
            return state, [Say("errors/unsupported", {"media": event.media or "other"}), *self.prompt(state)]
        step = self._current(state)
        if step is None:
            return self._menu_input(state, event)
        result = self._answer(step, state, event, today)
        if isinstance(result, _Retry):
            return state, [result.reason, *self.prompt(state)]
        if isinstance(result, _Stay):
            return result.state, [*result.effects, *self.prompt(result.state)]
        return self._complete(state, step, result)

    def _command(self, state: ConversationState, command: Command) -> tuple[ConversationState, list[Effect]]:
        if command.name == "start":
            source = command.argument if command.argument and SOURCE_PATTERN.match(command.argument) else state.source
            fresh = replace(self._reset(state), source=source)
            return fresh, [*self._drop(state), Say("menu/welcome"), *self._menu(fresh)]
        if command.name == "cancel":
            if state.flow is None:
                return state, self._menu(state)
            fresh = self._reset(state)
            return fresh, [*self._drop(state), Say("conversation/cancelled"), *self._menu(fresh)]
        if command.name == "help":
            return state, [Say("conversation/help", {"in_flow": state.flow is not None}), *self.prompt(state)]
        if command.name == "status":
            return state, [ShowStatus(command.argument, tuple(self.prompt(state)))]
        if command.name == "language":
            if command.argument:
                return self._set_language(state, command.argument)
            return state, [self._language_menu(state)]
        return self._back(state)

    def _set_language(self, state: ConversationState, wanted: str) -> tuple[ConversationState, list[Effect]]:
        folded = _fold(wanted)
        language = next((code for code, words in LANGUAGES.items() if folded in words), None)
        if language is None:
            return state, [self._language_menu(state)]
        changed = replace(state, language=language)
        return changed, [SetLanguage(language), Say("conversation/language_set"), *self.prompt(changed)]

    def _language_menu(self, state: ConversationState) -> Say:
        options = (Option("lang:id", label_key="lang_id"), Option("lang:en", label_key="lang_en"))
        return Say("conversation/choose_language", options=options, step=state.step or MENU)

    def _back(self, state: ConversationState) -> tuple[ConversationState, list[Effect]]:
        step = self._current(state)
        if step is None:
            return state, self._menu(state)
        inner = self._back_inside(step, state)
        if inner is not None:
            return inner, self.prompt(inner)
        if not state.history:
            fresh = self._reset(state)
            return fresh, [*self._drop(state), Say("conversation/cancelled"), *self._menu(fresh)]
        previous = state.history[-1]
        moved = self._enter(replace(state, history=state.history[:-1], editing=False), previous)
        return moved, self.prompt(moved)

    def _back_inside(self, step: StepSpec, state: ConversationState) -> ConversationState | None:
        """`back` inside a two-level list goes up one level before leaving the step."""
        if state.page > 0:
            return replace(state, page=state.page - 1)
        if step.type == "category" and "category_group" in state.answers:
            return state.without_answers("category_group")
        if step.type == "area" and "district_code" in state.answers:
            return state.without_answers("district_code")
        if step.type == "summary" and state.sub == "edit":
            return replace(state, sub=None)
        return None

    # ----------------------------------------------------------------- menu
    def _menu(self, state: ConversationState) -> list[Effect]:
        options = (
            Option("complaint", label_key="complaint"),
            Option("service", label_key="service"),
            Option("status", label_key="status"),
        )
        return [Say("menu/main", options=options, step=MENU)]

    def _menu_input(self, state: ConversationState, event: Inbound) -> tuple[ConversationState, list[Effect]]:
        if state.waiting_ticket is not None and event.kind == "text" and event.text and event.text.strip():
            return self._reply(state, state.waiting_ticket, event.text.strip())
        choice = event.value if event.kind == "choice" else self._match_menu_text(event.text or "")
        if choice == "status":
            return state, [ShowStatus(None, tuple(self._menu(state)))]
        if choice in self.book.intake_flows():
            return self._start_flow(state, choice)
        return state, self._menu(state)

    def _reply(self, state: ConversationState, ticket_id: int, text: str) -> tuple[ConversationState, list[Effect]]:
        """Free text while an officer waits for an answer is that answer."""
        if len(text) > REPLY_MAX:
            return state, [Say("errors/too_long", {"limit": REPLY_MAX, "length": len(text)})]
        return state, [RelayReply(ticket_id, text)]

    def _after_resolution(self, state: ConversationState, value: str) -> tuple[ConversationState, list[Effect]]:
        """The buttons under a resolution notice: rate the service, or say it is not fixed.
        They work from any step, like the language buttons, since they answer that notice."""
        action, _, raw_id = value.partition(":")
        if not TICKET_ID_PATTERN.fullmatch(raw_id):  # a forged id: "²" or 20 digits would crash the lookup
            return state, [Say("errors/stale_button"), *self.prompt(state)]
        if action == "reopen":
            # The answer comes from the caller; then the question in progress, if any, again.
            return state, [ReopenTicket(int(raw_id)), *(self.prompt(state) if state.flow else ())]
        return self._start_flow(state, "survey", ticket_id=int(raw_id))

    def _match_menu_text(self, text: str) -> str | None:
        folded = _fold(text)
        words = {
            "complaint": ("1", "pengaduan", "aduan", "lapor", "complaint", "report"),
            "service": ("2", "permohonan", "layanan", "service", "request"),
            "status": ("3",),
        }
        return next((key for key, known in words.items() if folded in known), None)

    def _start_flow(self, state: ConversationState, flow_name: str, **preset: Any) -> tuple[ConversationState, list[Effect]]:
        started = replace(self._reset(state), flow=flow_name, answers=preset)
        first = self._next_step(started, after=None)
        assert first is not None, "a flow has at least one step"
        entered = self._enter(started, first.id)
        return entered, [*self._drop(state), *self.prompt(entered)]

    # ----------------------------------------------------------------- flow movement
    def _flow(self, state: ConversationState) -> FlowSpec | None:
        return self.book.flows.get(state.flow) if state.flow else None

    def _current(self, state: ConversationState) -> StepSpec | None:
        flow = self._flow(state)
        return flow.step(state.step) if flow and state.step else None

    def _applies(self, step: StepSpec, state: ConversationState) -> bool:
        if step.type == "consent" and state.consent_version == self.book.settings.consent_version:
            return False
        return checks.holds(step.when, dict(state.answers))

    def _next_step(self, state: ConversationState, after: str | None) -> StepSpec | None:
        """The next step that applies; None after a survey's last question."""
        flow = self._flow(state)
        assert flow is not None
        steps = flow.steps
        if state.editing:
            missing = [s for s in steps if s.type != "summary" and s.id not in state.history and self._applies(s, state)]
            return missing[0] if missing else steps[-1]
        start = 0 if after is None else [s.id for s in steps].index(after) + 1
        return next((s for s in steps[start:] if self._applies(s, state)), None)

    def _enter(self, state: ConversationState, step_id: str) -> ConversationState:
        """Stand on `step_id` with a clean sub-state (first list level, first page)."""
        step = self._flow(state).step(step_id)  # type: ignore[union-attr]
        state = replace(state, step=step_id, page=0, sub=None)
        if step.type == "category":
            state = state.without_answers("category_group", "category")
        if step.type == "area":
            state = state.without_answers("district_code", step.answer_key)
        return state

    def _complete(self, state: ConversationState, step: StepSpec, done: _Done) -> tuple[ConversationState, list[Effect]]:
        answered = replace(state.with_answers(**done.answers), history=(*state.history, step.id))
        if step.type == "summary":
            fresh = self._reset(state)
            ticket = OpenTicket(state.flow, self._collect(state))  # type: ignore[arg-type]
            return fresh, [*done.effects, ticket, *self._menu(fresh)]
        if step.type == "consent":
            answered = replace(answered, consent_version=self.book.settings.consent_version)
        following = self._next_step(answered, after=step.id)
        if following is None:
            fresh = self._reset(state)
            return fresh, [*done.effects, self._survey(answered), *self._menu(fresh)]
        if following.type == "summary":
            answered = replace(answered, editing=False)
        moved = self._enter(answered, following.id)
        return moved, [*done.effects, *self.prompt(moved)]

    def _survey(self, state: ConversationState) -> SubmitSurvey:
        flow = self._flow(state)
        answers = state.answers
        scores = {s.answer_key: int(answers[s.answer_key]) for s in flow.steps  # type: ignore[union-attr]
                  if s.type == "choice" and str(answers.get(s.answer_key, "")).isdigit()}
        comments = [answers[s.answer_key] for s in flow.steps if s.type == "text" and answers.get(s.answer_key)]  # type: ignore[union-attr]
        return SubmitSurvey(int(answers["ticket_id"]), scores, "\n".join(comments) or None)

    def _reset(self, state: ConversationState) -> ConversationState:
        return ConversationState(
            language=state.language, consent_version=state.consent_version, source=state.source,
            known_phone=state.known_phone,
        )

    def _drop(self, state: ConversationState) -> list[Effect]:
        photos = state.pending_attachments
        return [DropAttachments(photos)] if photos else []

    def _collect(self, state: ConversationState) -> dict[str, Any]:
        """The answers of the steps that apply, as the ticket should record them."""
        flow = self._flow(state)
        answers: dict[str, Any] = {"source": state.source}
        for step in flow.steps:  # type: ignore[union-attr]
            if step.type in ("summary", "consent") or not self._applies(step, state):
                continue
            if step.type == "category":
                answers["category_group"] = state.answers.get("category_group")
            if step.type == "area":
                answers["district_code"] = state.answers.get("district_code")
            answers[step.answer_key] = state.answers.get(step.answer_key)
        return answers

    # ----------------------------------------------------------------- prompts
    def prompt(self, state: ConversationState) -> list[Effect]:
        """The question for where the conversation stands (the menu when idle)."""
        step = self._current(state)
        if step is None:
            return self._menu(state)
        builder = getattr(self, f"_prompt_{step.type}")
        return [replace(say, step=step.id) for say in builder(step, state)]

    def _ctx(self, step: StepSpec, state: ConversationState, **extra: Any) -> dict[str, Any]:
        return {"answers": dict(state.answers), "flow": state.flow, "limit": step.max_length, **extra}

    def _skip(self, step: StepSpec, state: ConversationState) -> tuple[Option, ...]:
        return (Option("skip", label_key="skip"),) if checks.holds(step.skippable, dict(state.answers)) else ()

    def _paged(self, state: ConversationState, options: Sequence[Option], nested: bool = False) -> tuple[Option, ...]:
        """One page of a long list, with "more" and "back" rows, never a silent cut."""
        start = state.page * PAGE_SIZE
        page = list(options[start : start + PAGE_SIZE])
        if start + PAGE_SIZE < len(options):
            page.append(Option("nav:more", label_key="more"))
        if state.page > 0 or nested:
            page.append(Option("nav:back", label_key="back"))
        return tuple(page)

    def _prompt_consent(self, step: StepSpec, state: ConversationState) -> list[Say]:
        options = (Option("agree", label_key="agree"), Option("disagree", label_key="disagree"))
        return [Say(step.prompt_key, {"version": self.book.settings.consent_version}, options)]

    def _category_options(self, state: ConversationState) -> tuple[list[Option], dict[str, Any]]:
        kind = self._flow(state).kind  # type: ignore[union-attr]
        groups = self.book.categories.groups(kind)
        group_key = state.answers.get("category_group")
        if group_key is None:
            return [Option(g.key, label=g.label.as_dict()) for g in groups], {"kind": kind, "group": None}
        group = next(g for g in groups if g.key == group_key)
        options = [
            Option(t.key, label=t.label.as_dict(), description=t.description.model_dump() if t.description else None)
            for t in group.types
        ]
        return options, {"kind": kind, "group": group.label.as_dict()[state.language]}

    def _prompt_category(self, step: StepSpec, state: ConversationState) -> list[Say]:
        options, ctx = self._category_options(state)
        key = step.prompt_keys[0] if ctx["group"] is None else step.prompt_keys[1]
        return [Say(key, ctx, self._paged(state, options, nested=ctx["group"] is not None))]

    def _prompt_choice(self, step: StepSpec, state: ConversationState) -> list[Say]:
        options = [Option(o.value, label=o.label.as_dict()) for o in step.options]
        return [Say(step.prompt_key, self._ctx(step, state), (*self._paged(state, options), *self._skip(step, state)))]

    def _prompt_text(self, step: StepSpec, state: ConversationState) -> list[Say]:
        return [Say(step.prompt_key, self._ctx(step, state), self._skip(step, state))]

    def _prompt_phone(self, step: StepSpec, state: ConversationState) -> list[Say]:
        own = (Option(OWN_PHONE, label_key="own_phone"),) if state.known_phone else ()
        return [Say(step.prompt_key, self._ctx(step, state, known_phone=state.known_phone), own + self._skip(step, state))]

    def _prompt_number(self, step: StepSpec, state: ConversationState) -> list[Say]:
        return [Say(step.prompt_key, self._ctx(step, state, min=step.min, max=step.max), self._skip(step, state))]

    def _prompt_nik(self, step: StepSpec, state: ConversationState) -> list[Say]:
        unknown = checks.unknown_allowed(step, state.answers)
        options = (Option("unknown", label_key="unknown"),) if unknown else ()
        return [Say(step.prompt_key, self._ctx(step, state, unknown_allowed=unknown), options + self._skip(step, state))]

    def _area_options(self, step: StepSpec, state: ConversationState) -> tuple[list[Option], str | None]:
        district_code = state.answers.get("district_code")
        if district_code is None:
            return [Option(d.code, label={"id": d.name, "en": d.name}) for d in self.book.areas.districts], None
        district = self.book.areas.district(district_code)
        assert district is not None
        return [Option(v.code, label={"id": v.name, "en": v.name}) for v in district.villages], district.name

    def _prompt_area(self, step: StepSpec, state: ConversationState) -> list[Say]:
        options, district = self._area_options(step, state)
        key = step.prompt_keys[0] if district is None else step.prompt_keys[1]
        ctx = self._ctx(step, state, district=district, regency=self.book.areas.regency.name)
        return [Say(key, ctx, (*self._paged(state, options, nested=district is not None), *self._skip(step, state)))]

    def _prompt_location(self, step: StepSpec, state: ConversationState) -> list[Say]:
        return [Say(step.prompt_key, self._ctx(step, state), (Option("skip", label_key="skip"),), request="location")]

    def _prompt_photos(self, step: StepSpec, state: ConversationState) -> list[Say]:
        count = len(state.answers.get(step.answer_key) or [])
        option = Option("done", label_key="done") if count else Option("skip", label_key="skip")
        ctx = self._ctx(step, state, count=count, max_photos=step.max_photos)
        return [Say(step.prompt_key, ctx, (option,), request="photo")]

    def _prompt_summary(self, step: StepSpec, state: ConversationState) -> list[Say]:
        if state.sub == "edit":
            rows = [Option(f"edit:{s.id}", label=s.title.as_dict()) for s in self._editable(state)]  # type: ignore[union-attr]
            return [Say(step.prompt_keys[1], {}, self._paged(state, rows, nested=True))]
        options = (Option("confirm", label_key="confirm"), Option("edit", label_key="edit"), Option("cancel", label_key="cancel"))
        return [Say(step.prompt_key, {"rows": self._summary_rows(state), "flow": state.flow}, options)]

    def _editable(self, state: ConversationState) -> list[StepSpec]:
        flow = self._flow(state)
        return [s for s in flow.steps if s.title is not None and self._applies(s, state)]  # type: ignore[union-attr]

    def _summary_rows(self, state: ConversationState) -> list[dict[str, Any]]:
        """What the person will send, in their words, with the NIK masked."""
        lang = state.language
        rows = []
        for step in self._editable(state):
            value = state.answers.get(step.answer_key)
            shown: Any = value
            kind = "text"
            if value is None:
                kind = "unknown" if step.type == "nik" else "skipped"
            elif step.type == "category":
                found = self.book.category(self._flow(state).kind, value)  # type: ignore[union-attr]
                shown = f"{found[0].label.as_dict()[lang]} — {found[1].label.as_dict()[lang]}" if found else value
            elif step.type == "choice":
                shown = next((o.label.as_dict()[lang] for o in step.options if o.value == value), value)
            elif step.type == "area":
                found_v = self.book.areas.village(value)
                shown = f"{found_v[1].name}, {found_v[0].name}" if found_v else value
            elif step.type == "nik":
                shown = mask_nik(value)
            elif step.type == "location":
                kind, shown = "location", value
            elif step.type == "photos":
                kind, shown = ("photos", len(value)) if value else ("skipped", None)
            rows.append({"title": step.title.as_dict()[lang], "kind": kind, "value": shown})  # type: ignore[union-attr]
        return rows

    # ----------------------------------------------------------------- answers
    def _answer(self, step: StepSpec, state: ConversationState, event: Inbound, today: date) -> _StepResult:
        if event.kind == "choice" and event.value == "nav:more":
            return _Stay(replace(state, page=state.page + 1))
        if event.kind == "choice" and event.value == "nav:back":
            inner = self._back_inside(step, state)
            return _Stay(inner) if inner is not None else _Retry(Say("errors/choose_option"))
        if event.kind == "photo" and step.type != "photos":
            return _Retry(Say("errors/photo_not_expected"))
        if event.kind == "location" and step.type != "location":
            return _Retry(Say("errors/location_not_expected"))
        if self._is_skip(step, state, event):
            if step.type == "photos":
                return _Done({step.answer_key: list(state.answers.get(step.answer_key) or [])})
            return _Done({step.answer_key: None})
        if step.type == "nik":
            return self._answer_nik(step, state, event, today)
        handler = getattr(self, f"_answer_{step.type}")
        return handler(step, state, event)

    def _is_skip(self, step: StepSpec, state: ConversationState, event: Inbound) -> bool:
        offered = {o.value: o for o in self._offered(step, state)}
        value = event.value if event.kind == "choice" else None
        if value is None and event.kind == "text" and event.text:
            folded = _fold(event.text)
            value = next((v for v in ("skip", "done") if v in offered and folded in _BUTTON_WORDS[v]), None)
        return value in ("skip", "done") and value in offered

    def _offered(self, step: StepSpec, state: ConversationState) -> tuple[Option, ...]:
        says = [e for e in self.prompt(state) if isinstance(e, Say)]
        return says[-1].options if says else ()

    def _pick(self, state: ConversationState, event: Inbound, options: Sequence[Option]) -> str | None:
        """The option meant: a pressed button, its number on this page, or its label typed."""
        values = [o.value for o in options]
        if event.kind == "choice":
            return event.value if event.value in values else None
        if event.kind != "text" or not event.text:
            return None
        folded = _fold(event.text)
        if folded.isdigit():
            index = int(folded) - 1 + state.page * PAGE_SIZE
            return values[index] if 0 <= index < len(values) else None
        for option in options:
            labels = (option.label or {}).values()
            if folded in (_fold(label) for label in labels) or folded == option.value:
                return option.value
        return None

    def _answer_consent(self, step: StepSpec, state: ConversationState, event: Inbound) -> _StepResult:
        options = [Option("agree", label_key="agree"), Option("disagree", label_key="disagree")]
        picked = self._pick(state, event, options) or _word_choice(event, ("agree", "disagree"))
        if picked == "agree":
            version = self.book.settings.consent_version
            return _Done({"consent": version}, (RecordConsent(version),))
        if picked == "disagree":
            return _Stay(self._reset(state), (Say("intake/consent_declined"),))
        return _Retry(Say("errors/choose_option"))

    def _answer_category(self, step: StepSpec, state: ConversationState, event: Inbound) -> _StepResult:
        options, ctx = self._category_options(state)
        picked = self._pick(state, event, options)
        if picked is None:
            return _Retry(Say("errors/choose_option"))
        if ctx["group"] is None:
            return _Stay(replace(state.with_answers(category_group=picked), page=0))
        return _Done({"category_group": state.answers["category_group"], step.answer_key: picked})

    def _answer_choice(self, step: StepSpec, state: ConversationState, event: Inbound) -> _StepResult:
        picked = self._pick(state, event, [Option(o.value, label=o.label.as_dict()) for o in step.options])
        return _Done({step.answer_key: picked}) if picked else _Retry(Say("errors/choose_option"))

    def _answer_text(self, step: StepSpec, state: ConversationState, event: Inbound) -> _StepResult:
        if event.kind != "text" or event.text is None:
            return _Retry(Say("errors/expected_text"))
        return _checked(step, checks.text(step, event.text))

    def _answer_nik(self, step: StepSpec, state: ConversationState, event: Inbound, today: date) -> _StepResult:
        unknown = checks.unknown_allowed(step, state.answers)
        if event.kind == "choice" and event.value == "unknown" and unknown:
            return _Done({step.answer_key: None})
        if event.kind != "text" or not event.text:
            return _Retry(Say("errors/expected_text"))
        if unknown and _fold(event.text) in UNKNOWN_WORDS:
            return _Done({step.answer_key: None})
        return _checked(step, checks.nik(event.text, today=today, unknown_allowed=unknown))

    def _answer_phone(self, step: StepSpec, state: ConversationState, event: Inbound) -> _StepResult:
        if event.kind == "choice" and event.value == OWN_PHONE and state.known_phone:
            return _Done({step.answer_key: state.known_phone})
        raw = event.phone if event.kind == "contact" else event.text if event.kind == "text" else None
        if not raw:
            return _Retry(Say("errors/expected_text"))
        return _checked(step, checks.phone(raw))

    def _answer_number(self, step: StepSpec, state: ConversationState, event: Inbound) -> _StepResult:
        return _checked(step, checks.number(step, (event.text or "") if event.kind == "text" else ""))

    def _answer_area(self, step: StepSpec, state: ConversationState, event: Inbound) -> _StepResult:
        options, district = self._area_options(step, state)
        picked = self._pick(state, event, options)
        if picked is None:
            return _Retry(Say("errors/choose_option"))
        if district is None:
            return _Stay(replace(state.with_answers(district_code=picked), page=0))
        return _Done({"district_code": state.answers["district_code"], step.answer_key: picked})

    def _answer_location(self, step: StepSpec, state: ConversationState, event: Inbound) -> _StepResult:
        if event.kind != "location":
            return _Retry(Say("errors/expected_location"))
        return _checked(step, checks.location(event.latitude, event.longitude))

    def _answer_photos(self, step: StepSpec, state: ConversationState, event: Inbound) -> _StepResult:
        photos = list(state.answers.get(step.answer_key) or [])
        if event.kind == "photo" and event.photo_error:
            return _Retry(Say("errors/photo_rejected", {"reason": event.photo_error}))
        if event.kind == "photo" and event.attachment_id is not None:
            if event.attachment_id not in photos:
                photos.append(event.attachment_id)
            if len(photos) >= step.max_photos:
                return _Done({step.answer_key: photos})
            return _Stay(state.with_answers(**{step.answer_key: photos}), (Say("steps/photo_received", {"count": len(photos), "max_photos": step.max_photos}),))
        return _Retry(Say("errors/expected_photo"))

    def _answer_summary(self, step: StepSpec, state: ConversationState, event: Inbound) -> _StepResult:
        if state.sub == "edit":
            rows = [Option(f"edit:{s.id}", label=s.title.as_dict()) for s in self._editable(state)]  # type: ignore[union-attr]
            picked = self._pick(state, event, rows)
            if picked is None:
                return _Retry(Say("errors/choose_option"))
            target = picked[5:]
            history = tuple(h for h in state.history if h != target)
            return _Stay(self._enter(replace(state, history=history, editing=True), target))
        options = [Option("confirm", label_key="confirm"), Option("edit", label_key="edit"), Option("cancel", label_key="cancel")]
        picked = self._pick(state, event, options) or _word_choice(event, ("confirm", "edit", "cancel"))
        if picked == "confirm":
            return _Done({})
        if picked == "edit":
            return _Stay(replace(state, sub="edit", page=0))
        if picked == "cancel":
            return _Stay(self._reset(state), (*self._drop(state), Say("conversation/cancelled")))
        return _Retry(Say("errors/choose_option"))



# Words that press a button when typed, in either language (labels come from templates).
_BUTTON_WORDS = {
    "skip": ("lewati", "lewat", "skip", "tidak ada", "tidak", "no", "none"),
    "done": ("selesai", "sudah", "done", "finish", "cukup"),
    "agree": ("setuju", "ya", "iya", "yes", "agree", "ok", "oke"),
    "disagree": ("tidak setuju", "tidak", "no", "disagree"),
    "confirm": ("kirim", "ya", "benar", "send", "confirm", "yes"),
    "edit": ("ubah", "edit", "change", "ganti"),
    "cancel": ("batal", "cancel"),
}


def _word_choice(event: Inbound, values: tuple[str, ...]) -> str | None:
    if event.kind != "text" or not event.text:
        return None
    folded = _fold(event.text)
    return next((v for v in values if folded in _BUTTON_WORDS[v]), None)
