"""Working days in the office's time zone: Monday to Friday, minus Indonesian public holidays
and cuti bersama (the `holidays` package, categories PUBLIC and GOVERNMENT), minus the days the
office adds itself — cuti bersama change by decree, so the office must be able to add days."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays


class WorkingCalendar:
    def __init__(self, zone: ZoneInfo, days_off: Iterable[str | date] = ()) -> None:
        self.zone = zone
        self.days_off = {d if isinstance(d, date) else date.fromisoformat(d) for d in days_off}
        self._holidays = holidays.country_holidays("ID", categories=(holidays.PUBLIC, holidays.GOVERNMENT))

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._holidays and day not in self.days_off

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def add_working_days(self, moment: datetime, days: int) -> date:
        """The working day `days` working days after the local date of `moment`: a report made
        on Friday with one working day to answer is due on Monday (or later, over a holiday)."""
        day = self.local_date(moment)
        remaining = days
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def due_after(self, moment: datetime, days: int) -> datetime:
        """The end of the working day `days` working days after `moment`, as an instant."""
        return datetime.combine(self.add_working_days(moment, days), time(23, 59), self.zone)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days after `start`'s local date up to and including `end`'s: how many
        working days late something due at `start` is at `end`."""
        day, last, count = self.local_date(start), self.local_date(end), 0
        while day < last:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count

    def office_hours(self, moment: datetime, opens: time) -> bool:
        """A working day, at or after opening time: when reminders may wake people."""
        local = moment.astimezone(self.zone)
        return self.is_working_day(local.date()) and local.time() >= opens

    def end_of_day(self, moment: datetime) -> datetime:
        return datetime.combine(self.local_date(moment), time(23, 59, 59), self.zone)
