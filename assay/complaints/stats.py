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

__all__ = [
    "ACK_DAYS",
    "FEEDBACK_MONTHS",
    "STATUSES",
    "Deadlines",
    "SystemStats",
    "add_months",
    "deadlines",
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


@dataclass(frozen=True)
class SystemStats:
    """What the public may know about a system's complaints: counts and durations, never content."""

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

    def as_dict(self) -> dict[str, object]:
        return {
            "system_id": self.system_id,
            "as_of": self.as_of.isoformat(),
            "total": self.total,
            "by_status": self.by_status,
            "by_year": {str(k): v for k, v in sorted(self.by_year.items())},
            "acknowledged": self.acknowledged,
            "median_days_to_acknowledge": self.median_days_to_acknowledge,
            "acknowledged_within_7_days": self.acknowledged_within_deadline,
            "flags": {
                "not_acknowledged_within_7_days": self.not_acknowledged_in_time,
                "not_answered_within_3_months": self.not_answered_in_time,
                "overdue_now": self.overdue_now,
            },
        }


def system_stats(system_id: str, complaints: Iterable[ComplaintDates], *, today: date) -> SystemStats:
    by_status = dict.fromkeys(STATUSES, 0)
    by_year: dict[int, int] = {}
    ack_days: list[int] = []
    within = late_ack = late_answer = overdue = total = 0
    for c in complaints:
        total += 1
        by_status[c.status] = by_status.get(c.status, 0) + 1
        by_year[c.received_on.year] = by_year.get(c.received_on.year, 0) + 1
        if c.acknowledged_on is not None:
            days = (c.acknowledged_on - c.received_on).days
            ack_days.append(days)
            within += days <= ACK_DAYS
        d = deadlines(
            received_on=c.received_on, acknowledged_on=c.acknowledged_on, answered_on=c.answered_on, today=today
        )
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
        as_of=today,
        by_year=by_year,
    )
