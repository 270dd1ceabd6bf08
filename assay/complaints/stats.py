"""Deadlines and public, content-free statistics of complaints.

The deadlines are those of the EU Whistleblower Directive (2019/1937, Art. 9(1)(b) and (f)): acknowledge
receipt within **7 days**; give feedback within a reasonable time not exceeding **3 months** from the
acknowledgement or, if none was sent, from the end of the 7 days after the complaint was received.

Everything takes ``today`` as an argument (the injected clock); nothing here reads the system time.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import median
from typing import Any, TypeVar

_K = TypeVar("_K")

__all__ = [
    "ACK_DAYS",
    "FEEDBACK_MONTHS",
    "STATUSES",
    "SUPPRESS_BELOW",
    "Deadlines",
    "SystemStats",
    "add_months",
    "deadlines",
    "period_end",
    "system_stats",
]

ACK_DAYS = 7
FEEDBACK_MONTHS = 3

# In the order a complaint moves through them; the last two are final.
STATUSES = ("received", "acknowledged", "under_review", "referred_to_provider", "resolved", "rejected")
FINAL = ("resolved", "rejected")
LABELS = {
    "received": "Received",
    "acknowledged": "Acknowledged",
    "under_review": "Under review",
    "referred_to_provider": "Referred to the provider",
    "resolved": "Resolved",
    "rejected": "Rejected",
}


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day if it has no such day (31 May + 3 = 31 Aug)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Deadlines:
    acknowledge_by: date
    answer_by: date
    not_acknowledged_in_time: bool  # still unacknowledged past the 7 days, or acknowledged late
    not_answered_in_time: bool  # no feedback by the 3-month deadline (open and overdue, or given late)
    overdue_now: bool  # a deadline has passed and the oversight body still owes the step

    @property
    def flags(self) -> list[str]:
        out = []
        if self.not_acknowledged_in_time:
            out.append(f"not acknowledged within {ACK_DAYS} days")
        if self.not_answered_in_time:
            out.append(f"not answered within {FEEDBACK_MONTHS} months")
        return out


def deadlines(*, received_on: date, acknowledged_on: date | None, answered_on: date | None, today: date) -> Deadlines:
    acknowledge_by = received_on + timedelta(days=ACK_DAYS)
    answer_from = acknowledged_on if acknowledged_on and acknowledged_on <= acknowledge_by else acknowledge_by
    answer_by = add_months(answer_from, FEEDBACK_MONTHS)
    ack_late = (acknowledged_on is None and today > acknowledge_by) or (
        acknowledged_on is not None and acknowledged_on > acknowledge_by
    )
    answer_late = (answered_on is None and today > answer_by) or (answered_on is not None and answered_on > answer_by)
    overdue_now = (acknowledged_on is None and today > acknowledge_by) or (answered_on is None and today > answer_by)
    return Deadlines(acknowledge_by, answer_by, ack_late, answer_late, overdue_now)


@dataclass(frozen=True)
class ComplaintDates:
    status: str
    received_on: date
    acknowledged_on: date | None
    answered_on: date | None
    # Every status the complaint took, with its day, oldest first (to know where it stood on a past day).
    history: tuple[tuple[str, date], ...] = ()

    def status_on(self, day: date) -> str:
        passed = [s for s, d in self.history if d <= day]
        return passed[-1] if passed else (self.status if not self.history else STATUSES[0])


# Public statistics must not point at anyone: a count of 1 with a date next to it can name the one worker who
# complained about the system her employer uses. So (the rules of statistical disclosure control, simplest form):
# - a count under SUPPRESS_BELOW is published as "fewer than 5" (None), zero included, so that even whether
#   anyone complained is not told for fewer than 5; where one cell of a breakdown is hidden and the total is not,
#   the next smallest cell is hidden too, or the hidden one would follow by subtraction;
# - dates are coarsened to months: the figures describe the complaints received up to the end of the last full
#   month, as they stood on that day, so the page changes once a month, not on the day a complaint arrives.
SUPPRESS_BELOW = 5


def period_end(today: date) -> date:
    """The last day of the last full month: the day the published figures describe."""
    return today.replace(day=1) - timedelta(days=1)


@dataclass(frozen=True)
class SystemStats:
    """A system's complaints in figures, exact, as of ``as_of`` (the end of the last full month); never content.

    The exact figures are for the register's own use; the public sees :meth:`published` (counts under
    :data:`SUPPRESS_BELOW` hidden), which is also what :meth:`as_dict` gives.
    """

    system_id: str
    total: int
    by_status: dict[str, int]
    acknowledged: int
    median_days_to_acknowledge: float | None
    acknowledged_within_deadline: int
    not_acknowledged_in_time: int
    not_answered_in_time: int
    overdue_now: int
    as_of: date
    by_year: dict[int, int] = field(default_factory=dict)

    @property
    def next_update(self) -> date:
        return add_months(self.as_of.replace(day=1), 2)  # the first day of the month after next of as_of's

    def published(self, k: int = SUPPRESS_BELOW) -> dict[str, Any]:
        """The figures the public may see: every count under ``k`` is None ("fewer than k")."""

        def count(n: int) -> int | None:
            return n if n >= k else None

        total = count(self.total)
        by_status = _suppress_group(self.by_status, total_known=total is not None, k=k)
        by_year = _suppress_group(self.by_year, total_known=total is not None, k=k)
        acknowledged = count(self.acknowledged)
        median_days = (
            int(self.median_days_to_acknowledge + 0.5)
            if acknowledged is not None and self.median_days_to_acknowledge is not None
            else None
        )
        return {
            "system_id": self.system_id,
            "as_of": self.as_of.isoformat(),
            "next_update": self.next_update.isoformat(),
            "covers": f"complaints received up to {self.as_of.isoformat()}, as they stood that day",
            "suppressed_below": k,
            "total": total,
            "by_status": by_status,
            "by_year": {str(y): v for y, v in sorted(by_year.items())},
            "acknowledged": acknowledged,
            "median_days_to_acknowledge": median_days,
            "acknowledged_within_7_days": count(self.acknowledged_within_deadline),
            "flags": {
                "not_acknowledged_within_7_days": count(self.not_acknowledged_in_time),
                "not_answered_within_3_months": count(self.not_answered_in_time),
                "overdue_now": count(self.overdue_now),
            },
        }

    def as_dict(self) -> dict[str, Any]:
        return self.published()


def _suppress_group(cells: dict[_K, int], *, total_known: bool, k: int) -> dict[_K, int | None]:
    """Hide every cell under ``k``; if the total is published and exactly one cell is hidden, hide the next
    smallest too, so that no hidden cell is the total minus the shown ones."""
    out: dict[_K, int | None] = {key: (n if n >= k else None) for key, n in cells.items()}
    hidden = [key for key, v in out.items() if v is None]
    if total_known and len(hidden) == 1:
        shown = sorted((n, i) for i, (key, n) in enumerate(cells.items()) if out[key] is not None)
        if shown:
            out[list(cells)[shown[0][1]]] = None
    return out


def system_stats(system_id: str, complaints: Iterable[ComplaintDates], *, today: date) -> SystemStats:
    """The figures as of the end of the last full month before ``today``: complaints received by then, each as
    it stood on that day (its status then, acknowledged or answered only if by then)."""
    as_of = period_end(today)
    by_status = dict.fromkeys(STATUSES, 0)
    by_year: dict[int, int] = {}
    ack_days: list[int] = []
    within = late_ack = late_answer = overdue = total = 0
    for c in complaints:
        if c.received_on > as_of:
            continue
        acknowledged_on = c.acknowledged_on if c.acknowledged_on and c.acknowledged_on <= as_of else None
        answered_on = c.answered_on if c.answered_on and c.answered_on <= as_of else None
        total += 1
        status = c.status_on(as_of)
        by_status[status] = by_status.get(status, 0) + 1
        by_year[c.received_on.year] = by_year.get(c.received_on.year, 0) + 1
        if acknowledged_on is not None:
            days = (acknowledged_on - c.received_on).days
            ack_days.append(days)
            within += days <= ACK_DAYS
        d = deadlines(received_on=c.received_on, acknowledged_on=acknowledged_on, answered_on=answered_on, today=as_of)
        late_ack += d.not_acknowledged_in_time
        late_answer += d.not_answered_in_time
        overdue += d.overdue_now
    return SystemStats(
        system_id=system_id,
        total=total,
        by_status=by_status,
        acknowledged=len(ack_days),
        median_days_to_acknowledge=float(median(ack_days)) if ack_days else None,
        acknowledged_within_deadline=within,
        not_acknowledged_in_time=late_ack,
        not_answered_in_time=late_answer,
        overdue_now=overdue,
        as_of=as_of,
        by_year=by_year,
    )
