"""The webhook inbox: every received event, stored before LINE gets its 200."""

from tortoise import fields
from tortoise.models import Model

from models.enums import InboxStatus


class InboxEvent(Model):
    """One webhook event, unique by LINE's `webhookEventId`."""

    id = fields.IntField(primary_key=True)
    webhook_event_id = fields.CharField(max_length=64, unique=True)
    event_type = fields.CharField(max_length=32)
    payload = fields.JSONField(null=True)  # dropped once handled (privacy: chat text)
    status = fields.CharEnumField(InboxStatus, max_length=16, default=InboxStatus.PENDING)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    claimed_at = fields.DatetimeField(null=True)
    retry_at = fields.DatetimeField(null=True)  # a failed event is not retried before this
    received_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "inbox_event"
        indexes = (("status", "id"), ("processed_at",))
