"""Questions answered by picking from a list: a flow's own options, or the office's categories
and villages, which come in two levels (a group, then an item in it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

from workflows.engine.effects import Option, Say
from workflows.engine.events import Inbound
from workflows.engine.state import ConversationState
from workflows.engine.steps.base import Done, Retry, Stay, StepResult, StepType, Turn

if TYPE_CHECKING:
    from workflows.flowbook import StepSpec


class Choice(StepType):
    name = "choice"

    def _options(self, step: StepSpec) -> list[Option]:
        return [Option(o.value, label=o.label.as_dict()) for o in step.options]

    def prompt(self, step: StepSpec, turn: Turn) -> list[Say]:
        return [Say(step.prompt_key, turn.ctx(step), (*turn.paged(self._options(step)), *turn.skip(step)))]

    def answer(self, step: StepSpec, turn: Turn, event: Inbound, today: date) -> StepResult:
        picked = turn.pick(event, self._options(step))
        return Done({step.answer_key: picked}) if picked else Retry(Say("errors/choose_option"))

    def shown(self, step: StepSpec, value: Any, turn: Turn) -> tuple[str, Any]:
        if value is None:
            return "skipped", None
        return "text", next((o.label.as_dict()[turn.state.language] for o in step.options if o.value == value), value)


class TwoLevels(StepType):
    """A list of groups, then the items of the group picked; the group's key is kept as the
    first of `inner_keys`, and `back` returns from the items to the groups."""

    def level(self, turn: Turn) -> tuple[list[Option], str | None]:
        """The rows to show, and the name of the group picked (None at the first level)."""
        raise NotImplementedError

    def answer(self, step: StepSpec, turn: Turn, event: Inbound, today: date) -> StepResult:
        options, group = self.level(turn)
        picked = turn.pick(event, options)
        if picked is None:
            return Retry(Say("errors/choose_option"))
        outer = self.inner_keys[0]
        if group is None:
            return Stay(replace(turn.state.with_answers(**{outer: picked}), page=0))
        return Done({outer: turn.state.answers[outer], step.answer_key: picked})

    def back(self, step: StepSpec, state: ConversationState) -> ConversationState | None:
        outer = self.inner_keys[0]
        return state.without_answers(outer) if outer in state.answers else None


class Category(TwoLevels):
    """The office's categories for the flow's kind: a group, then a type in it."""

    name = "category"
    levels = ("_group", "_type")
    inner_keys = ("category_group",)

    def level(self, turn: Turn) -> tuple[list[Option], str | None]:
        groups = turn.book.categories.groups(turn.flow.kind)
        group_key = turn.state.answers.get("category_group")
        if group_key is None:
            return [Option(g.key, label=g.label.as_dict()) for g in groups], None
        group = next(g for g in groups if g.key == group_key)
        options = [
            Option(t.key, label=t.label.as_dict(), description=t.description.model_dump() if t.description else None)
            for t in group.types
        ]
        return options, group.label.as_dict()[turn.state.language]

    def prompt(self, step: StepSpec, turn: Turn) -> list[Say]:
        options, group = self.level(turn)
        key = step.prompt_keys[0] if group is None else step.prompt_keys[1]
        return [Say(key, {"kind": turn.flow.kind, "group": group}, turn.paged(options, nested=group is not None))]

    def shown(self, step: StepSpec, value: Any, turn: Turn) -> tuple[str, Any]:
        if value is None:
            return "skipped", None
        found = turn.book.category(turn.flow.kind, value)
        lang = turn.state.language
        return "text", f"{found[0].label.as_dict()[lang]} — {found[1].label.as_dict()[lang]}" if found else value


class Area(TwoLevels):
    """The office's villages: a district, then a village in it."""

    name = "area"
    levels = ("_district", "_village")
    inner_keys = ("district_code",)

    def level(self, turn: Turn) -> tuple[list[Option], str | None]:
        areas = turn.book.areas
        district_code = turn.state.answers.get("district_code")
        if district_code is None:
            return [Option(d.code, label={"id": d.name, "en": d.name}) for d in areas.districts], None
        district = areas.district(district_code)
        assert district is not None
        return [Option(v.code, label={"id": v.name, "en": v.name}) for v in district.villages], district.name

    def prompt(self, step: StepSpec, turn: Turn) -> list[Say]:
        options, district = self.level(turn)
        key = step.prompt_keys[0] if district is None else step.prompt_keys[1]
        ctx = turn.ctx(step, district=district, regency=turn.book.areas.regency.name)
        return [Say(key, ctx, (*turn.paged(options, nested=district is not None), *turn.skip(step)))]

    def shown(self, step: StepSpec, value: Any, turn: Turn) -> tuple[str, Any]:
        if value is None:
            return "skipped", None
        found = turn.book.areas.village(value)
        return "text", f"{found[1].name}, {found[0].name}" if found else value
