"""Deliveries: the outbox, one row per (alert, employee, medium, round), and the LINE
batches of 500 they are written into."""

from tortoise import fields
from tortoise.models import Model

from models.alerts import Alert
from models.enums import BatchStatus, DeliveryKind, DeliveryStatus, Medium
from models.organization import Employee


class Delivery(Model):
    """One message to one employee through one medium, and what became of it.

    Round 0 is the alert itself (kind alert), each reminder is a later round, so the same
    employee can be reached again without breaking the unique key. An e-mail delivery goes
    to one address (an employee may have several); a LINE delivery to one LINE user.
    `batch_key` is the `X-Line-Retry-Key` of the multicast the row went out in (while a
    `DeliveryBatch` carries the claim, the key is on the batch, and copied here when LINE
    accepts). `batched`: the row was written into its alert round's `DeliveryBatch` rows,
    which name it by id range (a LINE row written without is claimed row by row).

    Rows are written 100,000 at a time with their alert, from employee rows, and nothing
    deletes an alert or an employee (retention deletes deliveries by alert): the references
    carry no database constraint, whose check per row was most of a large alert's start on
    PostgreSQL."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "models.Alert", related_name="deliveries", on_delete=fields.CASCADE, db_constraint=False
    )
    employee: fields.ForeignKeyRelation[Employee] = fields.ForeignKeyField(
        "models.Employee",
        related_name="deliveries",
        on_delete=fields.CASCADE,
        db_constraint=False,
    )
    kind = fields.CharEnumField(DeliveryKind, max_length=16, default=DeliveryKind.ALERT)
    round = fields.IntField(default=0)
    # The recipient's language when the row was written: a batch holds one language.
    language = fields.CharField(max_length=8, default="ja")
    medium = fields.CharEnumField(Medium, max_length=16)
    address = fields.CharField(max_length=254)
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    batch_key = fields.CharField(max_length=36, null=True, db_index=True)
    batched = fields.BooleanField(default=False)
    attempts = fields.IntField(default=0)
    reason = fields.TextField(null=True)
    claimed_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "delivery"
        unique_together = (("alert", "employee", "medium", "round", "address"),)
        indexes = (("status", "medium"),)


class DeliveryBatch(Model):
    """One multicast of an alert round: its batched LINE rows with an id from `first_id` to
    `last_id` (at most 500 ids, so at most 500 recipients, and each round's ranges apart), so
    claiming and recording 500 recipients writes one row.

    `status`: pending, then sending under `batch_key` (the `X-Line-Retry-Key`, stored with
    the claim, before the request goes out) while an engine holds it (`claimed_at`, kept
    fresh while it retries), then done: LINE accepted it and its rows are marked sent, or its
    rows carry their own outcome (failed, held, or left claimed under the same key for another
    engine to resume). `render_key` names the rendering its message is: the language of its
    rows (`Delivery.language`, which the range reads match too), so a multicast never mixes
    languages; each language's rows of a round are written apart, their batches numbered on."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "models.Alert", related_name="delivery_batches", on_delete=fields.CASCADE
    )
    round = fields.IntField(default=0)
    kind = fields.CharEnumField(DeliveryKind, max_length=16, default=DeliveryKind.ALERT)
    number = fields.IntField()
    render_key = fields.CharField(max_length=32, default="")
    first_id = fields.IntField()
    last_id = fields.IntField()
    status = fields.CharEnumField(
        BatchStatus, max_length=16, default=BatchStatus.PENDING, db_index=True
    )
    batch_key = fields.CharField(max_length=36, null=True)
    attempts = fields.IntField(default=0)
    reason = fields.TextField(null=True)
    claimed_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "delivery_batch"
        unique_together = (("alert", "round", "number"),)


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
