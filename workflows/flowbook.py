"""The office's flows, categories and areas, read from data files and validated at start-up.

An office adds a category, a village or a question by editing YAML, never code. Validation is
strict and names the file and entry at fault, because a broken file found at start-up is a
five-minute fix while one found by a citizen mid-report is a lost report.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time as dt_time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    model_serializer,
    model_validator,
)

from workflows.engine.steps import STEP_TYPES
from workflows.engine.words import COMMANDS
from workflows.validation.ticket_number import validate_prefix

DATA_DIR = Path(__file__).parent / "data"
LANGUAGES = ("id", "en")
LIST_TITLE_MAX = 24  # WhatsApp list row title
BUTTON_TITLE_MAX = 20  # WhatsApp reply button title
DESCRIPTION_MAX = 72  # WhatsApp list row description

Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,24}$")]  # fits Telegram callback data
Condition = dict[str, str | list[str]]
Language = Literal["id", "en"]
Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
# What a typed word may stand for: a button (or, for the commands, a slash command).
Meaning = Literal[
    "skip",
    "done",
    "agree",
    "disagree",
    "dont_know",
    "confirm",
    "edit",
    "cancel",
    "lang_id",
    "lang_en",
    "start",
    "help",
    "back",
    "status",
    "language",
    "mydata",
]
MENU_FLOWS_MAX = 8  # with "status" and "mydata", a menu of 10 rows: WhatsApp's longest list


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(Strict):
    id: Annotated[str, StringConstraints(min_length=1, max_length=LIST_TITLE_MAX)]
    en: Annotated[str, StringConstraints(min_length=1, max_length=LIST_TITLE_MAX)]

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "en": self.en}


class Description(Strict):
    id: Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX)]
    en: Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX)]


class CategoryType(Strict):
    key: Key
    label: Label
    ppks: int | None = Field(default=None, ge=1, le=26)
    description: Description | None = None


class CategoryGroup(Strict):
    key: Key
    label: Label
    types: list[CategoryType] = Field(min_length=1)


class Catalogue(Strict):
    complaint: list[CategoryGroup] = Field(min_length=1)
    service: list[CategoryGroup] = Field(min_length=1)

    def groups(self, kind: str) -> list[CategoryGroup]:
        return getattr(self, kind)

    @model_validator(mode="after")
    def _unique_keys(self) -> Catalogue:
        seen: set[str] = set()
        for group in [*self.complaint, *self.service]:
            for key in [group.key, *(t.key for t in group.types)]:
                if key in seen:
                    raise ValueError(f"category key {key!r} is used twice")
                seen.add(key)
        return self


Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class Place(Strict):
    """An area with, optionally, its centre (degrees, WGS84): where the map draws the cases
    reported there without a GPS pin, as an approximate location."""

    lat: Latitude | None = None
    lon: Longitude | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> Place:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("a centre needs both lat and lon")
        return self

    @model_serializer(mode="wrap")
    def _no_empty_centre(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Stored documents keep the shape they had before centres existed: no `lat: null`."""
        data: dict[str, Any] = handler(self)
        if self.lat is None:
            data.pop("lat", None)
            data.pop("lon", None)
        return data

    @property
    def centre(self) -> tuple[float, float] | None:
        return (self.lat, self.lon) if self.lat is not None and self.lon is not None else None


class Village(Place):
    code: Annotated[str, StringConstraints(pattern=r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=LIST_TITLE_MAX)]


class District(Place):
    code: Annotated[str, StringConstraints(pattern=r"^\d{2}\.\d{2}\.\d{2}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=LIST_TITLE_MAX)]
    villages: list[Village] = Field(min_length=1)

    @model_validator(mode="after")
    def _villages_inside(self) -> District:
        for village in self.villages:
            if not village.code.startswith(self.code + "."):
                raise ValueError(f"village {village.code} is not inside district {self.code}")
        return self


class Regency(Strict):
    code: Annotated[str, StringConstraints(pattern=r"^\d{2}\.\d{2}$")]
    name: str


class Areas(Strict):
    regency: Regency
    districts: list[District] = Field(min_length=1)

    def district(self, code: str) -> District | None:
        return next((d for d in self.districts if d.code == code), None)

    def village(self, code: str) -> tuple[District, Village] | None:
        for district in self.districts:
            for village in district.villages:
                if village.code == code:
                    return district, village
        return None

    def centres(self) -> dict[tuple[str, str | None], tuple[float, float]]:
        """Where a case without a GPS pin is drawn, by (district, village): the village's centre,
        else its district's (also for a case with no village). Areas without one are absent."""
        found: dict[tuple[str, str | None], tuple[float, float]] = {}
        for district in self.districts:
            if district.centre is not None:
                found[district.code, None] = district.centre
            for village in district.villages:
                centre = village.centre or district.centre
                if centre is not None:
                    found[district.code, village.code] = centre
        return found


class OptionSpec(Strict):
    value: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,24}$")]
    label: Label


class StepSpec(Strict):
    """One question. `field` is the answer's name (a ticket column, or kept in the ticket's
    details); `prompt` the template key; `when` limits the step to some earlier answers;
    `skippable` offers a skip button; `unknown_when` lets a NIK be "don't know"."""

    id: Key
    type: str
    field: Key | None = None
    prompt: str | None = None
    when: Condition = Field(default_factory=dict)
    skippable: bool | Condition = False
    unknown_when: Condition | None = None
    min_length: int = Field(default=1, ge=0)
    max_length: int = Field(default=500, ge=1, le=4000)
    min: int | None = None
    max: int | None = None
    max_photos: int = Field(default=5, ge=1, le=10)
    options: list[OptionSpec] = Field(default_factory=list)
    title: Label | None = None

    @property
    def answer_key(self) -> str:
        return self.field or self.id

    @property
    def prompt_key(self) -> str:
        return self.prompt or f"steps/{self.id}"

    @property
    def prompt_keys(self) -> tuple[str, ...]:
        """Every template this step speaks with; two-level steps have one per level."""
        return tuple(self.prompt_key + suffix for suffix in STEP_TYPES[self.type].levels)

    @model_validator(mode="after")
    def _shape(self) -> StepSpec:
        if self.type not in STEP_TYPES:
            raise ValueError(f"step {self.id}: unknown type {self.type!r} (known: {', '.join(STEP_TYPES)})")
        if self.type == "choice":
            if not 2 <= len(self.options) <= 10:
                raise ValueError(f"step {self.id}: a choice needs 2-10 options")
            if len(self.options) <= 3:
                for option in self.options:
                    for text in option.label.as_dict().values():
                        if len(text) > BUTTON_TITLE_MAX:
                            raise ValueError(f"step {self.id}: button {text!r} is over {BUTTON_TITLE_MAX} characters")
        elif self.options:
            raise ValueError(f"step {self.id}: only a choice step has options")
        if STEP_TYPES[self.type].titled and self.title is None:
            raise ValueError(f"step {self.id}: needs a title (shown in the summary)")
        return self


class ButtonLabel(Label):
    id: Annotated[str, StringConstraints(min_length=1, max_length=BUTTON_TITLE_MAX)]
    en: Annotated[str, StringConstraints(min_length=1, max_length=BUTTON_TITLE_MAX)]


class Blurb(Strict):
    id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    en: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class MenuEntry(Strict):
    """How the main menu offers a flow: its button, a line saying what it is for, and the words
    that start it when typed (besides its label and its number in the menu)."""

    label: ButtonLabel
    about: Blurb
    words: dict[Language, list[Word]] = Field(default_factory=dict)


class FlowSpec(Strict):
    """A complaint or service flow ends with its summary and files a ticket; a survey flow
    (asked after resolution) ends with its last question and records the answers. The first
    two are offered in the main menu by their `menu` entry; a survey never is."""

    kind: Literal["complaint", "service", "survey"]
    menu: MenuEntry | None = None
    steps: list[StepSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _steps(self) -> FlowSpec:
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("step ids must be unique within a flow")
        summaries = [s for s in self.steps if s.type == "summary"]
        if self.kind == "survey" and (summaries or any(s.type == "consent" for s in self.steps)):
            raise ValueError("a survey has no consent or summary step")
        if self.kind != "survey" and self.steps[-1].type != "summary":
            raise ValueError("the last step must be the summary")
        if (self.kind == "survey") != (self.menu is None):
            raise ValueError("a complaint or service flow needs a `menu` entry (label, about); a survey has none")
        known: set[str] = set()
        for step in self.steps:
            for key in [*step.when, *(step.unknown_when or {})] + (
                list(step.skippable) if isinstance(step.skippable, dict) else []
            ):
                if key not in known:
                    raise ValueError(f"step {step.id}: condition on {key!r}, not asked before it")
            known.update((step.answer_key, *STEP_TYPES[step.type].inner_keys))
        return self

    def step(self, step_id: str) -> StepSpec:
        return next(s for s in self.steps if s.id == step_id)


class Settings(Strict):
    consent_version: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    ticket_prefix: str
    office_days_off: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _prefix(self) -> Settings:
        validate_prefix(self.ticket_prefix)
        return self


class Team(Strict):
    key: Key
    label: Label


class Route(Strict):
    """Tickets of these categories in these districts go to `team`; empty matches any."""

    team: Key
    categories: list[Key] = Field(default_factory=list)
    districts: list[str] = Field(default_factory=list)

    def matches(self, category: str, district: str | None) -> bool:
        return (not self.categories or category in self.categories) and (
            not self.districts or district in self.districts
        )


class Agency(Strict):
    key: Key
    label: Label
    due_working_days: int = Field(default=5, ge=1, le=60)


class Reason(Strict):
    key: Key
    label: Label


SLA_STAGES = ("first_response", "follow_up", "resolution")
Days = Annotated[int, Field(ge=1, le=120)]


class Standards(Strict):
    """Working days allowed for each stage of handling; a category entry may set only some."""

    first_response: Days | None = None
    follow_up: Days | None = None
    resolution: Days | None = None


class ServiceStandards(Strict):
    """The office's service standards (SLA): per kind, and tighter or looser per category."""

    complaint: Standards
    service: Standards
    categories: dict[Key, Standards] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _complete(self) -> ServiceStandards:
        for kind in ("complaint", "service"):
            missing = [stage for stage in SLA_STAGES if getattr(getattr(self, kind), stage) is None]
            if missing:
                raise ValueError(f"service_standards.{kind} needs {', '.join(missing)}")
        return self

    def days(self, kind: str, category: str) -> dict[str, int]:
        """Working days per stage for a ticket, the category's own where it sets them."""
        base = getattr(self, kind)
        special = self.categories.get(category)
        return {stage: getattr(special, stage, None) or getattr(base, stage) for stage in SLA_STAGES}


class Reminders(Strict):
    """When the scheduler nudges people (working days unless said otherwise)."""

    office_opens: dt_time = dt_time(8, 0)  # reminders of a day go out from this local time
    escalate_every: Days = 2  # a breached ticket goes to the supervisor again this often
    citizen_quiet: Days = 5  # "still being handled" after this long without news to the citizen
    survey_reminder_days: int = Field(default=3, ge=1, le=60)  # calendar days after resolution
    waiting_citizen_close: Days = 10  # a ticket waiting on the citizen this long is closed
    digest_at: dt_time = dt_time(7, 0)  # local time of the supervisors' daily digest


Hours = Annotated[int, Field(ge=1, le=24 * 60)]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DayKey = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"]
StaffRef = Annotated[int, Field(ge=1)] | Annotated[str, StringConstraints(min_length=1, max_length=64)]


class UrgentStandards(Strict):
    """Calendar hours allowed for each stage of an urgent ticket, nights and holidays included."""

    first_response: Hours | None = None
    follow_up: Hours | None = None
    resolution: Hours | None = None


class Shift(Strict):
    """Who is on call on these days between `start` and `end` (local time). An `end` at or
    before `start` runs over midnight into the next day; `holiday` matches a public holiday
    or an office day off that falls on a weekday, and is preferred over the weekday's shifts."""

    days: list[DayKey] = Field(min_length=1)
    start: dt_time = Field(alias="from")
    end: dt_time = Field(alias="to")
    staff: list[StaffRef] = Field(min_length=1)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)


class Rota(Strict):
    """A team's on-call rota. `fallback` is who gets an urgent ticket when no shift covers
    the hour or nobody on it is active: `supervisor` (the area's), or a staff id or username."""

    shifts: list[Shift] = Field(default_factory=list)
    fallback: StaffRef = "supervisor"


class Hotline(Strict):
    """A number the citizen of an urgent report is given at once. A hotline without a number
    (the regency's own UPTD PPA before the office fills it in) is not shown."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    number: Annotated[str, StringConstraints(max_length=40)] | None = None
    when: Blurb | None = None


class Urgency(Strict):
    """The urgent track: which categories are urgent by themselves (any report whose flow's
    danger question is answered "yes" is urgent too), their deadlines in calendar hours, the
    on-call rota per team, how often the on-call person is alerted until they accept, when
    the area's supervisors are alerted too, and the hotlines the citizen is given."""

    categories: list[Key] = Field(default_factory=list)
    standards: UrgentStandards = UrgentStandards(first_response=1, follow_up=24, resolution=168)
    category_standards: dict[Key, UrgentStandards] = Field(default_factory=dict)
    on_call: dict[Key, Rota] = Field(default_factory=dict)
    repeat_minutes: int = Field(default=10, ge=1, le=24 * 60)
    escalate_minutes: int = Field(default=30, ge=1, le=24 * 60)
    hotlines: list[Hotline] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> Urgency:
        missing = [stage for stage in SLA_STAGES if getattr(self.standards, stage) is None]
        if missing:
            raise ValueError(f"urgent.standards needs {', '.join(missing)}")
        return self

    def hours(self, category: str) -> dict[str, int]:
        """Calendar hours per stage for an urgent ticket, the category's own where it sets them."""
        special = self.category_standards.get(category)
        return {stage: getattr(special, stage, None) or getattr(self.standards, stage) for stage in SLA_STAGES}

    def shown_hotlines(self) -> list[Hotline]:
        return [h for h in self.hotlines if h.number and h.number.strip()]


Months = Annotated[int, Field(ge=1, le=1200)]


class Retention(Strict):
    """How long a closed ticket's personal data is kept, in months after it was closed (its
    last change as resolved, closed or rejected); open tickets are never purged. The consent
    text tells citizens `default_months`, so it must be the longest period a report may be
    kept unless a category says otherwise. `categories`: a category type or first-menu group
    key and its own period (a type's own beats its group's). The nightly purge runs between
    `runs_from` and `runs_until` (local time), a batch per scheduler tick."""

    default_months: Months = 60
    categories: dict[Key, Months] = Field(default_factory=dict)
    runs_from: dt_time = dt_time(1, 0)
    runs_until: dt_time = dt_time(5, 0)

    def months_for(self, group: str | None, category: str) -> int:
        """The period that applies to a ticket of this category (and first-menu group)."""
        if category in self.categories:
            return self.categories[category]
        if group is not None and group in self.categories:
            return self.categories[group]
        return self.default_months


class Duplicates(Strict):
    """How a new ticket is compared with the open ones, to suggest it may be the same case:
    those of its category group filed in the last `window_days`, in the same village or within
    `radius_m` metres, whose words are at least `min_similarity` alike (pg_trgm's measure, 0–1);
    an open ticket about the same NIK is suggested whatever its words."""

    radius_m: int = Field(default=300, ge=10, le=20_000)
    window_days: int = Field(default=60, ge=1, le=365)
    min_similarity: float = Field(default=0.25, ge=0.0, le=1.0)  # bench/duplicates.py: precision vs recall


class Office(Strict):
    """How the office works tickets: teams, routing rules, referral agencies, reasons,
    service standards and the timing of reminders and digests."""

    teams: list[Team] = Field(min_length=1)
    routing: list[Route] = Field(min_length=1)
    agencies: list[Agency] = Field(min_length=1)
    reject_reasons: list[Reason] = Field(min_length=1)
    reopen_days: int = Field(default=14, ge=0, le=365)
    survey_form_days: int = Field(default=30, ge=1, le=365)  # the full survey's web link works this long
    invite_valid_hours: int = Field(default=72, ge=1, le=24 * 30)
    service_standards: ServiceStandards
    reminders: Reminders = Field(default_factory=Reminders)
    urgent: Urgency = Field(default_factory=Urgency)
    retention: Retention = Field(default_factory=Retention)
    duplicates: Duplicates = Field(default_factory=Duplicates)

    @model_validator(mode="after")
    def _known_teams(self) -> Office:
        teams = {t.key for t in self.teams}
        for team in self.urgent.on_call:
            if team not in teams:
                raise ValueError(f"urgent.on_call: unknown team {team!r}")
        for route in self.routing:
            if route.team not in teams:
                raise ValueError(f"routing: unknown team {route.team!r}")
        if self.routing[-1].categories or self.routing[-1].districts:
            raise ValueError("routing: the last rule must match every ticket (no categories, no districts)")
        return self

    def team_for(self, category: str, district: str | None) -> str:
        return next(r.team for r in self.routing if r.matches(category, district))

    def agency(self, key: str) -> Agency | None:
        return next((a for a in self.agencies if a.key == key), None)

    def agency_label(self, key: str) -> dict[str, str]:
        """An agency's name per language; a key no longer configured (an old referral) as is."""
        agency = self.agency(key)
        return agency.label.as_dict() if agency else {"id": key, "en": key}

    def reason(self, key: str) -> Reason | None:
        return next((r for r in self.reject_reasons if r.key == key), None)


IKM_ELEMENTS = 9  # PermenPAN-RB 14/2017: the survey of public satisfaction has nine elements
IKM_SCALE = 4  # each answered 1–4


class Question(Strict):
    id: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    en: Annotated[str, StringConstraints(min_length=1, max_length=300)]


class Answer(Strict):
    id: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    en: Annotated[str, StringConstraints(min_length=1, max_length=60)]


class IkmElement(Strict):
    """One element of the satisfaction index: its key (the survey step that asks it in the chat
    has this id), its label, the web form's question and its four answers, worst first."""

    key: Key
    code: Annotated[str, StringConstraints(pattern=r"^U[1-9]$")]
    label: Label
    question: Question
    answers: list[Answer] = Field(min_length=IKM_SCALE, max_length=IKM_SCALE)


class FlowBook(Strict):
    """Everything the engine and the case workflows need to know about this office."""

    settings: Settings
    flows: dict[Key, FlowSpec]
    words: dict[Language, dict[Meaning, list[Word]]]
    ikm_elements: list[IkmElement] = Field(min_length=IKM_ELEMENTS, max_length=IKM_ELEMENTS)
    categories: Catalogue
    areas: Areas
    office: Office

    @model_validator(mode="after")
    def _references(self) -> FlowBook:
        known = {t.key for kind in ("complaint", "service") for g in self.categories.groups(kind) for t in g.types}
        for key in self.office.service_standards.categories:
            if key not in known:
                raise ValueError(f"office service_standards: unknown category {key!r}")
        for key in [*self.office.urgent.categories, *self.office.urgent.category_standards]:
            if key not in known:
                raise ValueError(f"office urgent: unknown category {key!r}")
        groups = {g.key for kind in ("complaint", "service") for g in self.categories.groups(kind)}
        for key in self.office.retention.categories:
            if key not in known and key not in groups:
                raise ValueError(f"office retention: unknown category or group {key!r}")
        for route in self.office.routing:
            for key in route.categories:
                if key not in known:
                    raise ValueError(f"office routing: unknown category {key!r}")
            for code in route.districts:
                if self.areas.district(code) is None:
                    raise ValueError(f"office routing: unknown district {code!r}")
        if "survey" not in self.flows or self.flows["survey"].kind != "survey":
            raise ValueError("flows: a `survey` flow of kind survey is needed (asked after resolution)")
        elements = {e.key for e in self.ikm_elements}
        if len(elements) != IKM_ELEMENTS:
            raise ValueError("ikm_elements: nine elements, each with its own key")
        for step in self.flows["survey"].steps:
            if step.type == "choice" and step.id not in elements:
                raise ValueError(f"flows.survey: step {step.id!r} is not an element of ikm_elements")
        if len(self.intake_flows()) > MENU_FLOWS_MAX:
            raise ValueError(f"flows: at most {MENU_FLOWS_MAX} complaint or service flows fit the menu")
        return self

    @model_validator(mode="after")
    def _command_words(self) -> FlowBook:
        """A command is the first word of a message, so each of its words must be one word."""
        for language, meanings in self.words.items():
            for meaning, typed in meanings.items():
                for word in typed if meaning in COMMANDS else ():
                    if len(word.split()) != 1 or word.startswith("/"):
                        raise ValueError(f"words.{language}.{meaning}: {word!r} must be one word, without a slash")
        return self

    def intake_flows(self) -> list[str]:
        """The flows a citizen may start from the menu, in the menu's order."""
        return [name for name, flow in self.flows.items() if flow.kind != "survey"]

    def flow(self, name: str) -> FlowSpec:
        return self.flows[name]

    def chat_survey_elements(self) -> list[str]:
        """The IKM elements the chat's short survey asks, in its order (the office's choice)."""
        return [s.id for s in self.flows["survey"].steps if s.type == "choice"]

    def is_urgent(self, flow: str, category: str | None, answers: Mapping[str, Any]) -> bool:
        """Urgent by its category, or because the flow's danger question was answered yes."""
        if category in self.office.urgent.categories:
            return True
        spec = self.flows.get(flow)
        steps = spec.steps if spec else []
        return any(STEP_TYPES[s.type].marks_urgent and answers.get(s.answer_key) is True for s in steps)

    def category(self, kind: str, key: str) -> tuple[CategoryGroup, CategoryType] | None:
        for group in self.categories.groups(kind):
            for item in group.types:
                if item.key == key:
                    return group, item
        return None


def _read(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _with_packaged_defaults(flows_file: Any) -> Any:
    """An office's flows.yaml with our typed words where it names none (a meaning it names
    replaces ours, the rest stay), and our menu entry for a flow it kept from before menus were
    data (same name, no `menu`)."""
    if not isinstance(flows_file, dict) or not isinstance(flows_file.get("flows"), dict):
        return flows_file  # validation says what is wrong
    packaged = _read(DATA_DIR / "flows.yaml")
    own_words = flows_file.get("words") or {}
    words = (
        own_words
        if not isinstance(own_words, dict)
        else {
            language: {**packaged["words"].get(language, {}), **(own_words.get(language) or {})}
            for language in {*packaged["words"], *own_words}
        }
    )
    flows = {
        name: {"menu": packaged["flows"][name]["menu"], **flow}
        if isinstance(flow, dict) and "menu" not in flow and "menu" in packaged["flows"].get(name, {})
        else flow
        for name, flow in flows_file["flows"].items()
    }
    return {
        **flows_file,
        "words": words,
        "flows": flows,
        "ikm_elements": flows_file.get("ikm_elements") or packaged["ikm_elements"],
    }


# The documents the console may change; a stored one replaces the file of the same name.
STORED_DOCUMENTS = ("areas", "categories", "office")


def source_file(directory: Path | None, name: str) -> Path:
    """Where the file `name` is read from: the office's directory, or our packaged default."""
    if directory is not None and (directory / name).exists():
        return directory / name
    return DATA_DIR / name


def load_flowbook(directory: Path | None = None, *, stored: Mapping[str, Any] | None = None) -> FlowBook:
    """Read `flows.yaml`, `categories.yaml`, `areas.yaml` and `office.yaml` from `directory`, falling back
    to the packaged defaults file by file, so an office may override only its areas. `stored` holds
    documents changed in the console (by name, see STORED_DOCUMENTS); each replaces its file."""

    def pick(name: str) -> Path:
        return source_file(directory, name)

    flows_file = _with_packaged_defaults(_read(pick("flows.yaml")))
    files = {name: _read(pick(f"{name}.yaml")) for name in STORED_DOCUMENTS if name not in (stored or {})}
    try:
        return FlowBook.model_validate(
            {
                "settings": flows_file["settings"],
                "flows": flows_file["flows"],
                "words": flows_file["words"],
                "ikm_elements": flows_file["ikm_elements"],
                **files,
                **(stored or {}),
            }
        )
    except ValidationError as error:
        if not stored:
            raise
        # Say where to look: the fault may be in what the console saved, not in any file.
        raise ValueError(
            f"the configuration does not validate with the documents saved in the console "
            f"({', '.join(sorted(stored))}; table config_document): {error}"
        ) from error


def with_document(book: FlowBook, name: str, document: Mapping[str, Any]) -> FlowBook:
    """`book` with one stored document replaced, validated whole as at start-up (a routing rule
    naming a district is checked against the areas too). Raises pydantic's ValidationError."""
    if name not in STORED_DOCUMENTS:
        raise ValueError(f"{name!r} is not a document the console may change")
    parts: dict[str, Any] = {field: getattr(book, field) for field in FlowBook.model_fields}
    return FlowBook.model_validate({**parts, name: dict(document)})


def document_of(book: FlowBook, name: str) -> dict[str, Any]:
    """One of the book's stored documents as plain JSON, the shape it is stored and edited in."""
    if name not in STORED_DOCUMENTS:
        raise ValueError(f"{name!r} is not a document the console may change")
    return getattr(book, name).model_dump(mode="json")
