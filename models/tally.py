"""The tally of one alert: who answered, what they answered, by department."""

from dataclasses import dataclass, field
from typing import Any

from models.alerts import Alert, AlertRecipient
from models.answers import Answer

NO_DEPARTMENT = "(所属なし)"


@dataclass
class DepartmentTally:
    """Answered and total counts for one department."""

    department_id: int | None
    name: str
    total: int = 0
    answered: int = 0

    @property
    def unanswered(self) -> int:
        """Recipients in this department who have not answered."""
        return self.total - self.answered


@dataclass
class Tally:
    """Counts per item and choice, answered/unanswered, and per department."""

    alert_id: int
    title: str
    total: int
    answered: int
    items: list[dict[str, Any]]
    choice_counts: dict[str, dict[str, int]]
    departments: list[DepartmentTally] = field(default_factory=list)

    @property
    def unanswered(self) -> int:
        """Recipients who have not answered."""
        return self.total - self.answered


async def tally(alert_id: int) -> Tally:
    """Count an alert's answers; raise tortoise's DoesNotExist for an unknown alert."""
    alert = await Alert.get(id=alert_id)
    recipients = await AlertRecipient.filter(alert_id=alert_id).prefetch_related("department")
    answers = await Answer.filter(alert_id=alert_id).values("employee_id", "choices")
    answered_ids = {a["employee_id"] for a in answers}

    choice_counts: dict[str, dict[str, int]] = {
        item["label"]: dict.fromkeys(item["choices"], 0) for item in alert.items
    }
    for answer in answers:
        for label, choice in (answer["choices"] or {}).items():
            counts = choice_counts.get(label)
            if counts is not None and choice in counts:
                counts[choice] += 1

    by_department: dict[int | None, DepartmentTally] = {}
    for recipient in recipients:
        dept = recipient.department
        key = dept.id if dept else None
        row = by_department.setdefault(
            key, DepartmentTally(key, dept.name if dept else NO_DEPARTMENT)
        )
        row.total += 1
        if recipient.employee_id in answered_ids:
            row.answered += 1

    roster_ids = {r.employee_id for r in recipients}
    return Tally(
        alert_id=alert.id,
        title=alert.title,
        total=len(roster_ids),
        answered=len(answered_ids & roster_ids),
        items=alert.items,
        choice_counts=choice_counts,
        departments=sorted(by_department.values(), key=lambda d: (d.department_id is None, d.name)),
    )
