"""The tally of one alert as a viewer may see it: who answered, what they answered, by
department. The viewer's scope is an argument, so every face counts the same way."""

from dataclasses import dataclass, field

from domain.alerts import display_title, find_alert
from domain.check_items import CheckItem, parse_items
from domain.scope import Scope
from models import AlertRecipient, Answer

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
    drill: bool
    total: int
    answered: int
    items: tuple[CheckItem, ...]
    choice_counts: dict[str, dict[str, int]]
    departments: list[DepartmentTally] = field(default_factory=list)

    @property
    def unanswered(self) -> int:
        """Recipients who have not answered."""
        return self.total - self.answered

    @property
    def shown_title(self) -> str:
        """The title with the drill marking."""
        return display_title(self.title, self.drill)


async def tally(alert_id: int, scope: Scope | None = None) -> Tally:
    """Count an alert's answers among the recipients `scope` lets the viewer see."""
    scope = scope or Scope.everything()
    alert = await find_alert(alert_id)
    items = parse_items(alert.items)
    recipients = await AlertRecipient.filter(alert_id=alert_id).prefetch_related("department")
    recipients = [r for r in recipients if scope.includes(r.department_id)]
    roster_ids = {r.employee_id for r in recipients}
    answers = [
        a
        for a in await Answer.filter(alert_id=alert_id).values("employee_id", "choices")
        if a["employee_id"] in roster_ids
    ]
    answered_ids = {a["employee_id"] for a in answers}

    choice_counts: dict[str, dict[str, int]] = {
        item.label: dict.fromkeys(item.choices, 0) for item in items
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

    return Tally(
        alert_id=alert.id,
        title=alert.title,
        drill=alert.drill,
        total=len(roster_ids),
        answered=len(answered_ids),
        items=items,
        choice_counts=choice_counts,
        departments=sorted(by_department.values(), key=lambda d: (d.department_id is None, d.name)),
    )
