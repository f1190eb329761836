"""The conversation engine: (stored state, inbound event, now) → (new state, effects).

Pure: no I/O, no clock, no globals. The same engine serves every channel, and a whole
conversation can be tested as a list of events and the effects they produce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from workflows.engine.commands import Command, UnknownCommand, parse_command
from workflows.engine.effects import (
    AddFile,
    DropAttachments,
    Effect,
    OpenDataRights,
    OpenTicket,
    Option,
    RelayReply,
    ReopenTicket,
    Say,
    SetLanguage,
    ShowStatus,
    SubmitSurvey,
)
from workflows.engine.events import Inbound
from workflows.engine.state import ConversationState
from workflows.engine.steps import (
    STEP_TYPES,
    Done,
    Retry,
    Stay,
    StepResult,
    Turn,
)
from workflows.engine.words import Vocabulary, fold
from workflows.validation import answers as checks

if TYPE_CHECKING:  # the flowbook checks flows against the step registry: types only, no import cycle
    from workflows.flowbook import FlowBook, FlowSpec, StepSpec

MENU = "menu"
LANGUAGES = ("id", "en")  # the chat's languages; the words that choose one are `lang_<code>` in the book
SOURCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
REPLY_MAX = 2000  # characters of one answer to an officer's question
TICKET_ID_PATTERN = re.compile(r"[0-9]{1,9}")  # a ticket id on a button; fits a 32-bit column
FILE_KINDS = ("photo", "document")
ATTACH = "attach"  # the status message's button value prefix: add a file to that ticket


@dataclass(frozen=True)
class Outcome:
    state: ConversationState
    effects: tuple[Effect, ...]


class Engine:
    """Decides what to say and what to record for one office's flow book."""

    def __init__(self, book: FlowBook, *, ttl: timedelta) -> None:
        self.book = book
        self.ttl = ttl
        self.words = Vocabulary(book.words)

    # ----------------------------------------------------------------- entry point
    def step(self, state: ConversationState, event: Inbound, now: datetime) -> Outcome:
        if state.expired or (state.flow is not None and state.expires_at is not None and now >= state.expires_at):
            expired = self.reset(state)
            effects: list[Effect] = self.drop(state)
            effects += [Say("conversation/expired"), *self._menu(expired)]
            return Outcome(expired, tuple(effects))
        new_state, effects = self._dispatch(state, event, now.date())
        expires = now + self.ttl if new_state.flow is not None else None
        return Outcome(replace(new_state, expires_at=expires), tuple(effects))

    def command(self, text: str) -> Command | UnknownCommand | None:
        """The command `text` is, in this office's words (the caller reads `/start <code>` too)."""
        return parse_command(text, self.words.commands)

    def wants_file(self, state: ConversationState, kind: str) -> bool:
        """Whether a photo (or a PDF, `kind` "document") would be taken now; the caller
        downloads and stores only then. A report's photo step takes photos; at the menu, the
        answer to an officer's question and a file added to a filed ticket take either."""
        if state.flow is None:
            return kind in FILE_KINDS and (state.waiting_ticket is not None or state.attaching is not None)
        step = self._current(state)
        return kind == "photo" and step is not None and STEP_TYPES[step.type].expects == "photo"

    # ----------------------------------------------------------------- routing
    def _dispatch(
        self, state: ConversationState, event: Inbound, today: date
    ) -> tuple[ConversationState, list[Effect]]:
        if event.kind == "text" and event.text is not None:
            command = self.command(event.text)
            if isinstance(command, Command):
                return self._command(state, command)
            if isinstance(command, UnknownCommand):
                return state, [Say("errors/unknown_command", {"text": command.text[:40]}), *self.prompt(state)]
        if event.kind == "choice" and event.value and event.value.startswith("lang:"):
            return self._set_language(state, event.value[5:])
        if event.kind == "choice" and event.value and event.value.split(":", 1)[0] in ("rate", "reopen"):
            return self._after_resolution(state, event.value)
        if event.kind == "choice" and event.value and event.value.startswith(ATTACH + ":"):
            return self._choose_attach(state, event.value)
        if event.kind == "choice" and event.step != (state.step or MENU):
            return state, [Say("errors/stale_button"), *self.prompt(state)]
        if event.kind == "document" and event.attachment_id is None and event.photo_error is None:
            return state, [self._unasked_document(state), *self.prompt(state)]
        if event.kind == "unsupported":
            return state, [Say("errors/unsupported", {"media": event.media or "other"}), *self.prompt(state)]
        step = self._current(state)
        if step is None:
            return self._menu_input(state, event)
        result = self._answer(step, state, event, today)
        if isinstance(result, Retry):
            return state, [result.reason, *self.prompt(state)]
        if isinstance(result, Stay):
            return result.state, [*result.effects, *self.prompt(result.state)]
        return self._complete(state, step, result)

    def _command(self, state: ConversationState, command: Command) -> tuple[ConversationState, list[Effect]]:
        if command.name == "start":
            source = command.argument if command.argument and SOURCE_PATTERN.match(command.argument) else state.source
            fresh = replace(self.reset(state), source=source)
            return fresh, [*self.drop(state), Say("menu/welcome"), *self._menu(fresh)]
        if command.name == "cancel":
            if state.flow is None:
                return replace(state, attaching=None), self._menu(state)
            fresh = self.reset(state)
            return fresh, [*self.drop(state), Say("conversation/cancelled"), *self._menu(fresh)]
        if command.name == "help":
            words = self.words.first(state.language, ("back", "cancel", "language", "start", "mydata"))
            return state, [
                Say("conversation/help", {"in_flow": state.flow is not None, "words": words}),
                *self.prompt(state),
            ]
        if command.name == "status":
            return state, [ShowStatus(command.argument, self._asked(state), offer_files=state.flow is None)]
        if command.name == "language":
            if command.argument:
                return self._set_language(state, command.argument)
            return state, [self._language_menu(state)]
        if command.name == "mydata":
            return self._data_rights(state)
        return self._back(state)

    def _data_rights(self, state: ConversationState) -> tuple[ConversationState, list[Effect]]:
        """What is held about them: a report in progress is set aside (its photos dropped),
        since the dialogue that follows asks its own questions."""
        return self.reset(state), [*self.drop(state), OpenDataRights()]

    def _set_language(self, state: ConversationState, wanted: str) -> tuple[ConversationState, list[Effect]]:
        """`wanted` is a language button's code, or what the person typed after "bahasa"."""
        meaning = self.words.meaning(wanted, [f"lang_{code}" for code in LANGUAGES])
        language = wanted if wanted in LANGUAGES else meaning.removeprefix("lang_") if meaning else None
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
            fresh = self.reset(state)
            return fresh, [*self.drop(state), Say("conversation/cancelled"), *self._menu(fresh)]
        previous = state.history[-1]
        moved = self.enter(replace(state, history=state.history[:-1], editing=False), previous)
        return moved, self.prompt(moved)

    def _back_inside(self, step: StepSpec, state: ConversationState) -> ConversationState | None:
        """`back` inside a two-level list goes up one level before leaving the step."""
        if state.page > 0:
            return replace(state, page=state.page - 1)
        return STEP_TYPES[step.type].back(step, state)

    # ----------------------------------------------------------------- menu
    def _menu(self, state: ConversationState) -> list[Effect]:
        """The flows of the book in its order, then "status" and "my data"; the text says what each is for."""
        entries = [(name, self.book.flows[name].menu) for name in self.book.intake_flows()]
        options = tuple(Option(name, label=menu.label.as_dict()) for name, menu in entries if menu)
        about = [{"label": menu.label.as_dict(), "about": menu.about.model_dump()} for _, menu in entries if menu]
        extras = (Option("status", label_key="status"), Option("mydata", label_key="mydata"))
        return [Say("menu/main", {"flows": about}, (*options, *extras), step=MENU)]

    def _menu_input(self, state: ConversationState, event: Inbound) -> tuple[ConversationState, list[Effect]]:
        if event.kind in FILE_KINDS and (event.attachment_id is not None or event.photo_error):
            return self._file(state, event)
        state = replace(state, attaching=None)  # anything but a file: they went on to something else
        if state.waiting_ticket is not None and event.kind == "text" and event.text and event.text.strip():
            return self._reply(state, state.waiting_ticket, event.text.strip())
        choice = event.value if event.kind == "choice" else self._match_menu_text(event.text or "")
        if choice == "status":
            return state, [ShowStatus(None, self._asked(state), offer_files=state.flow is None)]
        if choice == "mydata":
            return self._data_rights(state)
        if choice in self.book.intake_flows():
            return self._start_flow(state, choice)
        return state, self._menu(state)

    def _reply(self, state: ConversationState, ticket_id: int, text: str) -> tuple[ConversationState, list[Effect]]:
        """Free text while an officer waits for an answer is that answer."""
        if len(text) > REPLY_MAX:
            return state, [Say("errors/too_long", {"limit": REPLY_MAX, "length": len(text)})]
        return state, [RelayReply(ticket_id, text)]

    def _unasked_document(self, state: ConversationState) -> Say:
        """A PDF nothing asked for (so not even downloaded): where a photo is asked, it is not
        one; elsewhere, not something we read."""
        if self.wants_file(state, "photo"):
            return Say("errors/photo_rejected", {"reason": "bad_type"})
        return Say("errors/unsupported", {"media": "document"})

    def _file(self, state: ConversationState, event: Inbound) -> tuple[ConversationState, list[Effect]]:
        """A photo or PDF at the menu: an addition to the ticket they chose, else the answer to
        an officer's question (the caller downloaded it only for one of these)."""
        if event.photo_error:
            again = [Say("citizen/send_file", request="photo")] if state.attaching is not None else []
            return state, [Say("errors/photo_rejected", {"reason": event.photo_error}), *again]
        assert event.attachment_id is not None
        if state.attaching is not None:
            done = replace(state, attaching=None)
            return done, [AddFile(state.attaching, event.attachment_id), *self._menu(done)]
        if state.waiting_ticket is not None:
            return state, [RelayReply(state.waiting_ticket, event.text or "", event.attachment_id)]
        return state, [DropAttachments((event.attachment_id,)), *self._menu(state)]

    def _choose_attach(self, state: ConversationState, value: str) -> tuple[ConversationState, list[Effect]]:
        """The status message's "add a photo/document" button: their next file goes to that
        ticket. Not in the middle of a report, whose own questions come first."""
        raw_id = value.partition(":")[2]
        if state.flow is not None or not TICKET_ID_PATTERN.fullmatch(raw_id):
            return state, [Say("errors/stale_button"), *self.prompt(state)]
        return replace(state, attaching=int(raw_id)), [Say("citizen/send_file", request="photo")]

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
        """A menu entry typed: its number, a flow's label or one of its words (flows.yaml)."""
        folded = fold(text)
        names = self.book.intake_flows()
        if folded.isdigit():
            choices = [*names, "status", "mydata"]
            return choices[int(folded) - 1] if 0 < int(folded) <= len(choices) else None
        for name in names:
            menu = self.book.flows[name].menu
            typed = (
                [*menu.label.as_dict().values(), *(w for words in menu.words.values() for w in words)] if menu else []
            )
            if folded in (fold(word) for word in typed):
                return name
        return None

    def _start_flow(
        self, state: ConversationState, flow_name: str, **preset: Any
    ) -> tuple[ConversationState, list[Effect]]:
        started = replace(self.reset(state), flow=flow_name, answers=preset)
        first = self._next_step(started, after=None)
        assert first is not None, "a flow has at least one step"
        entered = self.enter(started, first.id)
        return entered, [*self.drop(state), *self.prompt(entered)]

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
            missing = [
                s for s in steps if s.type != "summary" and s.id not in state.history and self._applies(s, state)
            ]
            return missing[0] if missing else steps[-1]
        start = 0 if after is None else [s.id for s in steps].index(after) + 1
        return next((s for s in steps[start:] if self._applies(s, state)), None)

    def enter(self, state: ConversationState, step_id: str) -> ConversationState:
        """Stand on `step_id` with a clean sub-state (first list level, first page)."""
        step = self._flow(state).step(step_id)  # type: ignore[union-attr]
        state = replace(state, step=step_id, page=0, sub=None)
        inner_keys = STEP_TYPES[step.type].inner_keys
        return state.without_answers(*inner_keys, step.answer_key) if inner_keys else state

    def _complete(self, state: ConversationState, step: StepSpec, done: Done) -> tuple[ConversationState, list[Effect]]:
        answered = replace(state.with_answers(**done.answers), history=(*state.history, step.id))
        if step.type == "summary":
            fresh = self.reset(state)
            ticket = OpenTicket(state.flow, self._collect(state))  # type: ignore[arg-type]
            return fresh, [*done.effects, ticket, *self._menu(fresh)]
        if step.type == "consent":
            answered = replace(answered, consent_version=self.book.settings.consent_version)
        following = self._next_step(answered, after=step.id)
        if following is None:
            fresh = self.reset(state)
            return fresh, [*done.effects, self._survey(answered), *self._menu(fresh)]
        if following.type == "summary":
            answered = replace(answered, editing=False)
        moved = self.enter(answered, following.id)
        return moved, [*done.effects, *self.prompt(moved)]

    def _survey(self, state: ConversationState) -> SubmitSurvey:
        flow = self._flow(state)
        answers = state.answers
        scores = {
            s.answer_key: int(answers[s.answer_key])
            for s in flow.steps  # type: ignore[union-attr]
            if s.type == "choice" and str(answers.get(s.answer_key, "")).isdigit()
        }
        comments = [answers[s.answer_key] for s in flow.steps if s.type == "text" and answers.get(s.answer_key)]  # type: ignore[union-attr]
        return SubmitSurvey(int(answers["ticket_id"]), scores, "\n".join(comments) or None)

    def reset(self, state: ConversationState) -> ConversationState:
        """Back at the menu, keeping what belongs to the person rather than the report."""
        return ConversationState(
            language=state.language,
            consent_version=state.consent_version,
            source=state.source,
            known_phone=state.known_phone,
        )

    def drop(self, state: ConversationState) -> list[Effect]:
        """Photos stored for a report that will not be sent."""
        photos = state.pending_attachments
        return [DropAttachments(photos)] if photos else []

    def _collect(self, state: ConversationState) -> dict[str, Any]:
        """The answers of the steps that apply, as the ticket should record them."""
        flow = self._flow(state)
        answers: dict[str, Any] = {"source": state.source}
        for step in flow.steps:  # type: ignore[union-attr]
            if step.type in ("summary", "consent") or not self._applies(step, state):
                continue
            for key in STEP_TYPES[step.type].inner_keys:
                answers[key] = state.answers.get(key)
            answers[step.answer_key] = state.answers.get(step.answer_key)
        return answers

    # ----------------------------------------------------------------- prompts
    def prompt(self, state: ConversationState) -> list[Effect]:
        """The question for where the conversation stands (the menu when idle)."""
        step = self._current(state)
        if step is None:
            return self._menu(state)
        return [replace(say, step=step.id) for say in STEP_TYPES[step.type].prompt(step, self._turn(state))]

    def _asked(self, state: ConversationState) -> tuple[Say, ...]:
        """The question again, after an answer that did not move the conversation (a status list)."""
        return tuple(e for e in self.prompt(state) if isinstance(e, Say))

    def _turn(self, state: ConversationState) -> Turn:
        flow = self._flow(state)
        assert flow is not None
        return Turn(state=state, flow=flow, book=self.book, words=self.words, moves=self)

    def editable(self, state: ConversationState) -> list[StepSpec]:
        """The questions asked so far that the summary lists and lets the person change."""
        flow = self._flow(state)
        assert flow is not None
        return [s for s in flow.steps if s.title is not None and self._applies(s, state)]

    def summary_rows(self, state: ConversationState) -> list[dict[str, Any]]:
        """What the person will send, in their words, with the NIK masked."""
        turn = self._turn(state)
        rows = []
        for step in self.editable(state):
            kind, shown = STEP_TYPES[step.type].shown(step, state.answers.get(step.answer_key), turn)
            rows.append({"title": step.title.as_dict()[state.language], "kind": kind, "value": shown})  # type: ignore[union-attr]
        return rows

    # ----------------------------------------------------------------- answers
    def _answer(self, step: StepSpec, state: ConversationState, event: Inbound, today: date) -> StepResult:
        kind = STEP_TYPES[step.type]
        if event.kind == "choice" and event.value == "nav:more":
            return Stay(replace(state, page=state.page + 1))
        if event.kind == "choice" and event.value == "nav:back":
            inner = self._back_inside(step, state)
            return Stay(inner) if inner is not None else Retry(Say("errors/choose_option"))
        if event.kind == "photo" and kind.expects != "photo":
            return Retry(Say("errors/photo_not_expected"))
        if event.kind == "location" and kind.expects != "location":
            return Retry(Say("errors/location_not_expected"))
        if self._is_skip(step, state, event):
            return Done({step.answer_key: kind.skipped(step, state)})
        return kind.answer(step, self._turn(state), event, today)

    def _is_skip(self, step: StepSpec, state: ConversationState, event: Inbound) -> bool:
        """A skip or done button offered now, pressed or typed as one of its words."""
        offered = [o.value for o in self._offered(state) if o.value in ("skip", "done")]
        if event.kind == "choice":
            return event.value in offered
        return event.kind == "text" and event.text is not None and self.words.meaning(event.text, offered) is not None

    def _offered(self, state: ConversationState) -> tuple[Option, ...]:
        says = [e for e in self.prompt(state) if isinstance(e, Say)]
        return says[-1].options if says else ()
