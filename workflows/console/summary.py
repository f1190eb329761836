"""The monthly summary the regent and the Ombudsman ask for: per category and district, the
tickets that came in, those resolved, how many service-standard stages were met in time, and
what citizens scored the service.

Satisfaction is the mean of the survey's 1–4 answers and, as offices report it, the IKM index
(the mean × 25, so 4.0 is 100). Everything is limited to the viewer's area.
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
from workflows import sla
from workflows.casework import access

IKM_FACTOR = 25  # PermenPAN-RB 14/2017: the index is the mean score (1–4) times 25


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
        return self.score_sum / self.scores if self.scores else None

    @property
    def ikm(self) -> float | None:
        return self.average * IKM_FACTOR if self.average is not None else None


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


def month_bounds(first: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return datetime.combine(first, time.min, zone), datetime.combine(following, time.min, zone)


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
