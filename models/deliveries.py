"""Deliveries: the outbox, one row per (alert, employee, medium)."""

from tortoise import fields
from tortoise.models import Model

from models.alerts import Alert
from models.enums import DeliveryStatus, Medium
from models.organization import Employee


class Delivery(Model):
    """One message to one employee through one medium, and what became of it.

    `batch_key` is the `X-Line-Retry-Key` of the multicast the row was claimed into; it is
    stored before the request goes out, so a resumed send reuses it."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "models.Alert", related_name="deliveries", on_delete=fields.CASCADE
    )
    employee: fields.ForeignKeyRelation[Employee] = fields.ForeignKeyField(
        "models.Employee", related_name="deliveries", on_delete=fields.CASCADE
    )
    medium = fields.CharEnumField(Medium, max_length=16)
    address = fields.CharField(max_length=254)
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    batch_key = fields.CharField(max_length=36, null=True, db_index=True)
    attempts = fields.IntField(default=0)
    reason = fields.TextField(null=True)
    claimed_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "delivery"
        unique_together = (("alert", "employee", "medium"),)
        indexes = (("status", "medium"),)
