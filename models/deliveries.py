"""Deliveries: the outbox, one row per (alert, employee, medium, round)."""

from tortoise import fields
from tortoise.models import Model

from models.alerts import Alert
from models.enums import DeliveryKind, DeliveryStatus, Medium
from models.organization import Employee


class Delivery(Model):
    """One message to one employee through one medium, and what became of it.

    Round 0 is the alert itself (kind alert), each reminder is a later round, so the same
    employee can be reached again without breaking the unique key. An e-mail delivery goes
    to one address (an employee may have several); a LINE delivery to one LINE user.
    `batch_key` is the `X-Line-Retry-Key` of the multicast the row was claimed into: it is
    stored before the request goes out, so a resumed send reuses it."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "models.Alert", related_name="deliveries", on_delete=fields.CASCADE
    )
    employee: fields.ForeignKeyRelation[Employee] = fields.ForeignKeyField(
        "models.Employee", related_name="deliveries", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(DeliveryKind, max_length=16, default=DeliveryKind.ALERT)
    round = fields.IntField(default=0)
    # The recipient's language when the row was written: a batch holds one language.
    language = fields.CharField(max_length=8, default="ja")
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
        unique_together = (("alert", "employee", "medium", "round", "address"),)
        indexes = (("status", "medium"),)


class AlertRound(Model):
    """A reminder round of an alert (二次連絡): who asked, when, and the follow-up message."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "models.Alert", related_name="rounds", on_delete=fields.CASCADE
    )
    round = fields.IntField()
    kind = fields.CharEnumField(DeliveryKind, max_length=16, default=DeliveryKind.REMINDER)
    message = fields.TextField(default="")
    sender_name = fields.CharField(max_length=100)
    recipients = fields.IntField(default=0)
    started_at = fields.DatetimeField()

    class Meta:
        table = "alert_round"
        unique_together = (("alert", "round"),)
