"""The monthly summary the regent and the Ombudsman ask for: per category and district, the
tickets that came in, those resolved, how many service-standard stages were met in time, and
what citizens scored the service.

The chat's short survey is shown as what it is, the mean of its 1–4 answers, never as an index.
The IKM (`ikm_by_unit`) is computed as PermenPAN-RB 14/2017 says (`workflows/ikm.py`), from
complete nine-element responses only, per service unit and period. The unit is the team
(`office.yaml`'s teams: the office's service units, e.g. social rehabilitation, protection), not
the district, which is where citizens live rather than who serves them; the whole office is the
total. Everything is limited to the viewer's area.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session, col

from storage.models import Staff, SurveyResponse, Ticket
from workflows import ikm, sla
from workflows.casework import access

PERIODS = {"month": 1, "quarter": 3, "semester": 6, "year": 12}  # the IKM's period, in months


@dataclass
class Tally:
    """One line of the summary (a category in a district, or a total)."""

    new: int = 0
    resolved: int = 0
    met: int = 0
    due: int = 0
    score_sum: int = 0
    scores: int = 0
    responses: int = 0

    def add(self, other: Tally) -> None:
        for name in ("new", "resolved", "met", "due", "score_sum", "scores", "responses"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def compliance(self) -> int | None:
        """Per cent of the stages due that were met in time; None when none were due."""
        return self.met * 100 // self.due if self.due else None

    @property
    def average(self) -> float | None:
        """The mean of the short survey's answers (1–4): not the IKM, which needs all nine."""
        return self.score_sum / self.scores if self.scores else None


@dataclass
class MonthlySummary:
    first: date
    rows: dict[tuple[str, str, str | None], Tally] = field(default_factory=dict)  # (kind, category, district)

    def line(self, kind: str, category: str, district: str | None) -> Tally:
        return self.rows.setdefault((kind, category, district), Tally())

    def _grouped(self, key: Any) -> list[tuple[Any, Tally]]:
        groups: dict[Any, Tally] = {}
        for row_key, tally in self.rows.items():
            groups.setdefault(key(row_key), Tally()).add(tally)
        return sorted(groups.items(), key=lambda item: (-item[1].new, str(item[0])))

    def by_category(self) -> list[tuple[tuple[str, str], Tally]]:
        return self._grouped(lambda k: (k[0], k[1]))

    def by_district(self) -> list[tuple[str | None, Tally]]:
        return self._grouped(lambda k: k[2])

    def detail(self) -> list[tuple[tuple[str, str, str | None], Tally]]:
        return sorted(self.rows.items(), key=lambda item: (str(item[0][2]), -item[1].new, item[0][1]))

    def total(self) -> Tally:
        whole = Tally()
        for tally in self.rows.values():
            whole.add(tally)
        return whole


def month_bounds(first: date, zone: ZoneInfo, months: int = 1) -> tuple[datetime, datetime]:
    index = first.year * 12 + first.month - 1 + months
    following = date(index // 12, index % 12 + 1, 1)
    return datetime.combine(first, time.min, zone), datetime.combine(following, time.min, zone)


def period_start(month: date, period: str) -> date:
    """The first day of the quarter, semester or year holding `month` (or the month itself)."""
    size = PERIODS[period]
    return date(month.year, (month.month - 1) // size * size + 1, 1)


@dataclass(frozen=True)
class UnitIndexes:
    """The IKM of each service unit (team) over a period, and of the whole office."""

    first: date
    period: str
    units: list[tuple[str | None, ikm.Index]]
    office: ikm.Index | None
    short_surveys: int  # responses to the chat's short survey only, left out of the index


def ikm_by_unit(
    session: Session, *, viewer: Staff, elements: list[str], first: date, period: str, zone: ZoneInfo
) -> UnitIndexes:
    """The index per team from the complete responses given in the period, in the viewer's area."""
    start, end = month_bounds(first, zone, PERIODS[period])
    rows = session.execute(
        select(col(Ticket.team), col(SurveyResponse.scores), col(SurveyResponse.complete))
        .join(Ticket, col(Ticket.id) == col(SurveyResponse.ticket_id))
        .where(
            *access.visible_tickets(viewer),
            col(SurveyResponse.created_at) >= start,
            col(SurveyResponse.created_at) < end,
        )
    ).all()
    complete = [(team, scores) for team, scores, whole in rows if whole]
    by_team: dict[str | None, list[Any]] = {}
    for team, scores in complete:
        by_team.setdefault(team, []).append(scores)
    units = [(team, found) for team, answers in by_team.items() if (found := ikm.index(answers, elements))]
    return UnitIndexes(
        first=first,
        period=period,
        units=sorted(units, key=lambda unit: str(unit[0])),
        office=ikm.index((scores for _, scores in complete), elements),
        short_surveys=len(rows) - len(complete),
    )


def monthly(session: Session, *, viewer: Staff, first: date, zone: ZoneInfo, now: datetime) -> MonthlySummary:
    start, end = month_bounds(first, zone)
    area = access.visible_tickets(viewer)
    summary = MonthlySummary(first)
    came_in = session.execute(
        select(col(Ticket.kind), col(Ticket.category), col(Ticket.district_code), col(Ticket.sla)).where(
            *area, col(Ticket.created_at) >= start, col(Ticket.created_at) < end
        )
    ).all()
    for kind, category, district, stages in came_in:
        line = summary.line(kind, category, district)
        line.new += 1
        met, due = sla.met_in_time(stages, min(now, end))
        line.met, line.due = line.met + met, line.due + due
    for kind, category, district, count in session.execute(
        select(col(Ticket.kind), col(Ticket.category), col(Ticket.district_code), func.count())
        .where(*area, col(Ticket.resolved_at) >= start, col(Ticket.resolved_at) < end)
        .group_by(col(Ticket.kind), col(Ticket.category), col(Ticket.district_code))
    ).all():
        summary.line(kind, category, district).resolved += count
    _add_scores(
        summary,
        session.execute(
            select(col(Ticket.kind), col(Ticket.category), col(Ticket.district_code), col(SurveyResponse.scores))
            .join(Ticket, col(Ticket.id) == col(SurveyResponse.ticket_id))
            .where(*area, col(SurveyResponse.created_at) >= start, col(SurveyResponse.created_at) < end)
        ).all(),
    )
    return summary


def _add_scores(summary: MonthlySummary, answers: Iterable[Any]) -> None:
    for kind, category, district, scores in answers:
        values = [v for v in (scores or {}).values() if isinstance(v, int) and not isinstance(v, bool)]
        line = summary.line(kind, category, district)
        line.score_sum += sum(values)
        line.scores += len(values)
        line.responses += 1
