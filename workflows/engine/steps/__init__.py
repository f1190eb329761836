"""The step types a flow may use, by the name written as a step's `type` in flows.yaml.

A new kind of question is one `StepType` subclass and one line here; the flowbook refuses a
flow naming a type not listed, and the engine asks and reads each step through its entry.
"""

from __future__ import annotations

from collections.abc import Mapping

from workflows.engine.steps.base import (
    PAGE_SIZE,
    Done,
    Moves,
    Retry,
    Stay,
    StepResult,
    StepType,
    Turn,
)
from workflows.engine.steps.bookends import Consent, Summary
from workflows.engine.steps.danger import Danger
from workflows.engine.steps.lists import Area, Category, Choice
from workflows.engine.steps.media import Location, Photos
from workflows.engine.steps.typed import Nik, Number, Phone, Text

STEP_TYPES: Mapping[str, StepType] = {
    kind.name: kind
    for kind in (
        Consent(),
        Category(),
        Choice(),
        Danger(),
        Text(),
        Nik(),
        Phone(),
        Number(),
        Area(),
        Location(),
        Photos(),
        Summary(),
    )
}

__all__ = ["PAGE_SIZE", "STEP_TYPES", "Done", "Moves", "Retry", "Stay", "StepResult", "StepType", "Turn"]
