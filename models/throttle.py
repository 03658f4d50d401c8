"""Attempt counters with an expiring back-off, shared by every process (sign-in forms)."""

from tortoise import fields
from tortoise.models import Model


class Throttle(Model):
    """Failed attempts under one key (such as a LINE user on the link page) in the current
    window, and until when further attempts are refused."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=200, unique=True)
    attempts = fields.IntField(default=0)
    window_started_at = fields.DatetimeField()
    blocked_until = fields.DatetimeField(null=True)

    class Meta:
        table = "throttle"
