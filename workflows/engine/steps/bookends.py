"""The steps that open and close an intake flow: consent to keep the data, and the summary that
shows every answer before the ticket is filed (or lets the person change one)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

from workflows.engine.effects import Option, RecordConsent, Say
from workflows.engine.events import Inbound
from workflows.engine.state import ConversationState
from workflows.engine.steps.base import Done, Retry, Stay, StepResult, StepType, Turn

if TYPE_CHECKING:
    from workflows.flowbook import StepSpec


class Consent(StepType):
    """Asked once per consent text (`settings.consent_version`); no means no report."""

    name = "consent"
    titled = False
    _options = (Option("agree", label_key="agree"), Option("disagree", label_key="disagree"))

    def prompt(self, step: StepSpec, turn: Turn) -> list[Say]:
        # The retention the office enforces (workflows/privacy/retention.py) is the one stated here.
        context = {
            "version": turn.book.settings.consent_version,
            "retention_months": turn.book.office.retention.default_months,
        }
        return [Say(step.prompt_key, context, self._options)]

    def answer(self, step: StepSpec, turn: Turn, event: Inbound, today: date) -> StepResult:
        picked = turn.pick_or_word(event, self._options)
        if picked == "agree":
            version = turn.book.settings.consent_version
            return Done({"consent": version}, (RecordConsent(version),))
        if picked == "disagree":
            return Stay(turn.moves.reset(turn.state), (Say("intake/consent_declined"),))
        return Retry(Say("errors/choose_option"))


class Summary(StepType):
    """Every answer, then send, change one (a list of the questions) or cancel."""

    name = "summary"
    levels = ("", "_edit")
    titled = False
    _options = (
        Option("confirm", label_key="confirm"),
        Option("edit", label_key="edit"),
        Option("cancel", label_key="cancel"),
    )

    def _rows(self, turn: Turn) -> list[Option]:
        steps = turn.moves.editable(turn.state)  # every one has a title
        return [Option(f"edit:{s.id}", label=s.title.as_dict()) for s in steps if s.title is not None]

    def prompt(self, step: StepSpec, turn: Turn) -> list[Say]:
        if turn.state.sub == "edit":
            return [Say(step.prompt_keys[1], {}, turn.paged(self._rows(turn), nested=True))]
        rows = turn.moves.summary_rows(turn.state)
        return [Say(step.prompt_key, {"rows": rows, "flow": turn.state.flow}, self._options)]

    def answer(self, step: StepSpec, turn: Turn, event: Inbound, today: date) -> StepResult:
        state = turn.state
        if state.sub == "edit":
            picked = turn.pick(event, self._rows(turn))
            if picked is None:
                return Retry(Say("errors/choose_option"))
            target = picked.removeprefix("edit:")
            history = tuple(h for h in state.history if h != target)
            return Stay(turn.moves.enter(replace(state, history=history, editing=True), target))
        picked = turn.pick_or_word(event, self._options)
        if picked == "confirm":
            return Done({})
        if picked == "edit":
            return Stay(replace(state, sub="edit", page=0))
        if picked == "cancel":
            return Stay(turn.moves.reset(state), (*turn.moves.drop(state), Say("conversation/cancelled")))
        return Retry(Say("errors/choose_option"))

    def back(self, step: StepSpec, state: ConversationState) -> ConversationState | None:
        return replace(state, sub=None) if state.sub == "edit" else None
