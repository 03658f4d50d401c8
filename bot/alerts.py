"""Starting and closing alerts: the roster and its deliveries are written with the alert."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from bot.errors import Conflict, Invalid, NotFound
from models import (
    Alert,
    AlertRecipient,
    Delivery,
    DeliveryStatus,
    Department,
    Employee,
    LineAccount,
    Medium,
    Template,
)
from models.organization import department_subtree_ids

log = logging.getLogger(__name__)

DEFAULT_SENDER = "安否確認システム"


@dataclass(frozen=True)
class StartedAlert:
    """An alert just started, with how many people it reaches by which medium."""

    alert: Alert
    recipients: int
    line_deliveries: int
    unreachable: int


async def find_template(ref: str) -> Template:
    """A template by key or numeric ID."""
    template = await Template.get_or_none(key=ref)
    if template is None and ref.isdigit():
        template = await Template.get_or_none(id=int(ref))
    if template is None:
        raise NotFound(f"テンプレート {ref!r} が見つかりません。")
    return template


async def find_departments(refs: list[str]) -> list[Department]:
    """Departments by numeric ID or exact name; an unknown or ambiguous name is an error."""
    found: list[Department] = []
    for ref in refs:
        matches = await Department.filter(name=ref)
        if not matches and ref.isdigit():
            matches = await Department.filter(id=int(ref))
        if not matches:
            raise NotFound(f"部署 {ref!r} が見つかりません。")
        if len(matches) > 1:
            raise Invalid(f"部署名 {ref!r} が複数あります。IDで指定してください。")
        found.append(matches[0])
    return found


async def start_alert(
    template: Template,
    *,
    drill: bool,
    sender_name: str = DEFAULT_SENDER,
    departments: list[Department] | None = None,
) -> StartedAlert:
    """Freeze the template into an alert and write its roster and deliveries atomically."""
    sender_name = sender_name.strip() or DEFAULT_SENDER
    employees = Employee.filter(active=True)
    if departments:
        employees = employees.filter(
            department_id__in=await department_subtree_ids([d.id for d in departments])
        )
    roster = await employees.order_by("id")
    if not roster:
        raise Invalid("対象の社員がいません。部署の指定を確認してください。")
    accounts = {
        a.employee_id: a for a in await LineAccount.filter(employee_id__in=[e.id for e in roster])
    }
    async with in_transaction():
        alert = await Alert.create(
            template=template,
            title=template.title,
            message=template.message,
            items=template.items,
            sender_name=sender_name,
            drill=drill,
            line_enabled=template.line_enabled,
            email_enabled=template.email_enabled,
            started_at=datetime.now(UTC),
        )
        if departments:
            await alert.target_departments.add(*departments)
        await AlertRecipient.bulk_create(
            [
                AlertRecipient(alert=alert, employee_id=e.id, department_id=e.department_id)
                for e in roster
            ]
        )
        line_rows = []
        if template.line_enabled:
            line_rows = [
                Delivery(
                    alert=alert,
                    employee_id=e.id,
                    medium=Medium.LINE,
                    address=accounts[e.id].user_id,
                    status=DeliveryStatus.PENDING,
                )
                for e in roster
                if e.id in accounts and accounts[e.id].reachable
            ]
            await Delivery.bulk_create(line_rows, batch_size=1000)
    log.info(
        "alert %s started (%s): %d recipients, %d by LINE",
        alert.id,
        "drill" if drill else "real",
        len(roster),
        len(line_rows),
    )
    return StartedAlert(alert, len(roster), len(line_rows), len(roster) - len(line_rows))


async def close_alert(alert_id: int) -> Alert:
    """Stop accepting answers for an alert."""
    alert = await Alert.get_or_none(id=alert_id)
    if alert is None:
        raise NotFound("指定された連絡が見つかりません。")
    if alert.is_closed:
        raise Conflict("この連絡はすでに終了しています。")
    alert.closed_at = datetime.now(UTC)
    await alert.save(update_fields=["closed_at"])
    return alert
