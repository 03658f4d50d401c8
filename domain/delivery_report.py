"""What became of an alert's deliveries, as senders are told it: how many went out by each
medium, and the ones that failed for good (after retries, refused by LINE or by a mail
server at SMTP time) or are held, grouped by medium and reason, plus LINE's halt for the
alert when its monthly limit stopped it. The viewer's scope is an argument, as for the tally."""

from dataclasses import dataclass, field
from datetime import datetime

from tortoise.expressions import Subquery
from tortoise.functions import Count

from domain.alerts import find_alert
from domain.i18n import gettext as _
from domain.scope import Scope
from models import Alert, AlertRecipient, Delivery, DeliveryKind, DeliveryStatus, Medium

PROBLEMS = (DeliveryStatus.FAILED, DeliveryStatus.HELD)
MAX_GROUPS = 20  # reasons listed; the rest are counted together


def medium_name(medium: Medium) -> str:
    """A medium as people name it, in the current language."""
    return "LINE" if medium is Medium.LINE else _("メール")


def status_names() -> dict[DeliveryStatus, str]:
    """Delivery statuses as people name them, in the current language, in report order."""
    return {
        DeliveryStatus.SENT: _("送信済"),
        DeliveryStatus.PENDING: _("送信待ち"),
        DeliveryStatus.SENDING: _("送信中"),
        DeliveryStatus.FAILED: _("送信失敗"),
        DeliveryStatus.HELD: _("保留"),
    }


@dataclass(frozen=True)
class DeliveryProblem:
    """Deliveries of one medium that failed (or are held) for one reason."""

    medium: Medium
    status: DeliveryStatus
    reason: str
    count: int

    @property
    def medium_name(self) -> str:
        """The medium as people name it."""
        return medium_name(self.medium)

    @property
    def status_name(self) -> str:
        """送信失敗 or 保留."""
        if self.status not in PROBLEMS:
            return self.status.value
        return status_names()[self.status]


@dataclass
class DeliveryReport:
    """An alert's deliveries in the viewer's scope: counts per medium and status, and the
    problems by reason (largest first)."""

    counts: dict[Medium, dict[DeliveryStatus, int]] = field(default_factory=dict)
    problems: list[DeliveryProblem] = field(default_factory=list)
    more_problems: int = 0  # failed deliveries under reasons past MAX_GROUPS
    line_halted_at: datetime | None = None
    line_halted_reason: str | None = None

    def count(self, medium: Medium, status: DeliveryStatus) -> int:
        """How many deliveries of this medium stand in this status."""
        return self.counts.get(medium, {}).get(status, 0)

    def summary(self) -> list[tuple[str, list[tuple[str, int]]]]:
        """Per medium (LINE first), its non-zero counts by status, as people name them."""
        return [
            (
                medium_name(medium),
                [(name, self.count(medium, s)) for s, name in status_names().items()
                 if self.count(medium, s)],
            )
            for medium in Medium
            if medium in self.counts
        ]  # fmt: skip

    @property
    def failed(self) -> int:
        """Deliveries that failed or are held, every medium."""
        return sum(p.count for p in self.problems) + self.more_problems

    @property
    def has_problems(self) -> bool:
        """Anything a sender should be told about."""
        return bool(self.failed or self.line_halted_at)


async def delivery_counts(alert_id: int, round_: int | None = None) -> dict[DeliveryStatus, int]:
    """How many of an alert's deliveries (of one round, or all; board pushes only when their
    round is asked for) stand in each status (zero counts left out)."""
    rows = Delivery.filter(alert_id=alert_id)
    if round_ is None:
        rows = rows.exclude(kind=DeliveryKind.BOARD)
    if round_ is not None:
        rows = rows.filter(round=round_)
    found = await rows.annotate(n=Count("id")).group_by("status").values("status", "n")
    counts = {DeliveryStatus(r["status"]): int(r["n"]) for r in found}
    return {status: counts[status] for status in DeliveryStatus if counts.get(status)}


async def delivery_problems(alert_id: int, scope: Scope | None = None) -> DeliveryReport:
    """The alert's delivery counts and problems among the recipients `scope` allows."""
    return await report_of(await find_alert(alert_id), scope or Scope.everything())


async def report_of(alert: Alert, scope: Scope) -> DeliveryReport:
    """`delivery_problems` of an alert already found (and checked against the scope). A board
    post's push is not the alert reaching someone: it is left out."""
    report = DeliveryReport(
        line_halted_at=alert.line_halted_at, line_halted_reason=alert.line_halted_reason
    )
    # Board pushes and the family round's rows (they reach family members) are not the
    # employee's undelivered alert.
    rows = Delivery.filter(alert_id=alert.id).exclude(
        kind__in=[DeliveryKind.BOARD, DeliveryKind.FAMILY]
    )
    if not scope.is_everything:
        in_scope = scope.filter(AlertRecipient.filter(alert_id=alert.id)).values("employee_id")
        rows = rows.filter(employee_id__in=Subquery(in_scope))
    for row in (
        await rows.annotate(n=Count("id"))
        .group_by("medium", "status")
        .values("medium", "status", "n")
    ):
        medium, status = Medium(row["medium"]), DeliveryStatus(row["status"])
        report.counts.setdefault(medium, {})[status] = int(row["n"])
    groups = (
        await rows.filter(status__in=list(PROBLEMS))
        .annotate(n=Count("id"))
        .group_by("medium", "status", "reason")
        .values("medium", "status", "reason", "n")
    )
    groups.sort(key=lambda g: (-int(g["n"]), g["medium"], g["reason"] or ""))
    for group in groups[:MAX_GROUPS]:
        report.problems.append(
            DeliveryProblem(
                Medium(group["medium"]),
                DeliveryStatus(group["status"]),
                group["reason"] or "",
                int(group["n"]),
            )
        )
    report.more_problems = sum(int(g["n"]) for g in groups[MAX_GROUPS:])
    return report
