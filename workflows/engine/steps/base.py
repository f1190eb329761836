"""What every step type is: how it asks its question and how it reads an answer.

A step type is one object (see the registry in `workflows.engine.steps`); the engine looks it
up by the step's `type` and moves the conversation by what `answer` returns. The flowbook names
the same registry when it checks a flow, so a type the engine cannot run is refused at load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from workflows.engine.effects import Effect, Option, Say
from workflows.engine.events import Inbound
from workflows.engine.state import ConversationState
from workflows.engine.words import Vocabulary, fold
from workflows.validation import answers as checks

if TYPE_CHECKING:  # the flowbook checks flows against this registry: types only, no import cycle
    from workflows.flowbook import FlowBook, FlowSpec, StepSpec

PAGE_SIZE = 8  # rows per list page, leaving room for "more" and "back" within WhatsApp's 10


@dataclass(frozen=True)
class Done:
    """The step is answered with these answers."""

    answers: dict[str, Any]
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True)
class Retry:
    """Not an answer: say why, then ask the same question again."""

    reason: Say


@dataclass(frozen=True)
class Stay:
    """Progress inside the step (a sub-list, a page, one more photo): ask again from `state`."""

    state: ConversationState
    effects: tuple[Effect, ...] = ()


StepResult = Done | Retry | Stay


class Moves(Protocol):
    """The engine's moves a step type may make besides answering (the summary starts over,
    goes back to a question, lists what will be sent)."""

    def reset(self, state: ConversationState) -> ConversationState: ...
    def drop(self, state: ConversationState) -> list[Effect]: ...
    def enter(self, state: ConversationState, step_id: str) -> ConversationState: ...
    def editable(self, state: ConversationState) -> list[StepSpec]: ...
    def summary_rows(self, state: ConversationState) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Turn:
    """Where the conversation stands, for one step type's `prompt` or `answer`."""

    state: ConversationState
    flow: FlowSpec
    book: FlowBook
    words: Vocabulary
    moves: Moves

    def ctx(self, step: StepSpec, **extra: Any) -> dict[str, Any]:
        """The template context every question gets."""
        return {"answers": dict(self.state.answers), "flow": self.state.flow, "limit": step.max_length, **extra}

    def skip(self, step: StepSpec) -> tuple[Option, ...]:
        """A skip button, when this step may be skipped given the earlier answers."""
        return (Option("skip", label_key="skip"),) if checks.holds(step.skippable, dict(self.state.answers)) else ()

    def paged(self, options: Sequence[Option], nested: bool = False) -> tuple[Option, ...]:
        """One page of a long list, with "more" and "back" rows, never a silent cut."""
        start = self.state.page * PAGE_SIZE
        page = list(options[start : start + PAGE_SIZE])
        if start + PAGE_SIZE < len(options):
            page.append(Option("nav:more", label_key="more"))
        if self.state.page > 0 or nested:
            page.append(Option("nav:back", label_key="back"))
        return tuple(page)

    def pick(self, event: Inbound, options: Sequence[Option]) -> str | None:
        """The option meant: a pressed button, its number on this page, or its label typed."""
        values = [o.value for o in options]
        if event.kind == "choice":
            return event.value if event.value in values else None
        if event.kind != "text" or not event.text:
            return None
        folded = fold(event.text)
        if folded.isdigit():
            index = int(folded) - 1 + self.state.page * PAGE_SIZE
            return values[index] if 0 <= index < len(values) else None
        for option in options:
            labels = (option.label or {}).values()
            if folded in (fold(label) for label in labels) or folded == option.value:
                return option.value
        return None

    def pick_or_word(self, event: Inbound, options: Sequence[Option]) -> str | None:
        """As `pick`, or a word the flow book gives for one of these buttons ("ya" for agree)."""
        picked = self.pick(event, options)
        if picked is None and event.kind == "text" and event.text:
            picked = self.words.meaning(event.text, [o.value for o in options])
        return picked


class StepType:
    """One kind of question. Subclasses answer `prompt` and `answer`; the rest has defaults."""

    name: ClassVar[str]
    levels: ClassVar[tuple[str, ...]] = ("",)  # template suffixes: a two-level list has one per level
    inner_keys: ClassVar[tuple[str, ...]] = ()  # answers kept besides the step's own (the first level)
    expects: ClassVar[str | None] = None  # "photo" or "location" when this step takes one
    titled: ClassVar[bool] = True  # has a title, shown in the summary
    marks_urgent: ClassVar[bool] = False  # a True answer makes the ticket urgent (FlowBook.is_urgent)

    def prompt(self, step: StepSpec, turn: Turn) -> list[Say]:
        """The question (and its buttons) for where the conversation stands in this step."""
        raise NotImplementedError

    def answer(self, step: StepSpec, turn: Turn, event: Inbound, today: date) -> StepResult:
        """What this event means here: an answer, a reason to ask again, or progress inside."""
        raise NotImplementedError

    def back(self, step: StepSpec, state: ConversationState) -> ConversationState | None:
        """`back` inside the step (up a level), or None to leave it."""
        return None

    def skipped(self, step: StepSpec, state: ConversationState) -> Any:
        """The answer recorded when the step is skipped."""
        return None

    def shown(self, step: StepSpec, value: Any, turn: Turn) -> tuple[str, Any]:
        """How the summary shows an answer: a row kind and its value."""
        return ("skipped", None) if value is None else ("text", value)


def checked(step: StepSpec, value: Any) -> StepResult:
    """A shared check's verdict as the engine's: the answer, or its `errors/` message."""
    if isinstance(value, checks.Invalid):
        return Retry(Say(f"errors/{value.reason}", value.context))
    return Done({step.answer_key: value})
