""" "Is someone in danger now?": a yes/no question whose "yes" puts the report on the urgent
track (deadlines in hours, the on-call officer alerted at once, hotlines for the citizen).

Kept as its own type rather than a plain choice, so the flow book knows which answer means
danger whatever the office calls the step, and a "yes" typed in either language counts.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from workflows.engine.effects import Option, Say
from workflows.engine.events import Inbound
from workflows.engine.steps.base import Done, Retry, StepResult, StepType, Turn

if TYPE_CHECKING:
    from workflows.flowbook import StepSpec

YES, NO = "danger_yes", "danger_no"
OPTIONS = (Option(YES, label_key=YES), Option(NO, label_key=NO))
WORDS = {"agree": YES, "confirm": YES, "disagree": NO, "skip": NO}  # "ya" / "tidak" typed


class Danger(StepType):
    name = "danger"
    marks_urgent = True

    def prompt(self, step: StepSpec, turn: Turn) -> list[Say]:
        return [Say(step.prompt_key, turn.ctx(step), OPTIONS)]

    def answer(self, step: StepSpec, turn: Turn, event: Inbound, today: date) -> StepResult:
        picked = turn.pick(event, OPTIONS)
        if picked is None and event.kind == "text" and event.text:
            meaning = turn.words.meaning(event.text, list(WORDS))
            picked = WORDS.get(meaning) if meaning else None
        return Done({step.answer_key: picked == YES}) if picked else Retry(Say("errors/choose_option"))

    def shown(self, step: StepSpec, value: Any, turn: Turn) -> tuple[str, Any]:
        return "danger", value
