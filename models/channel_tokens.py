"""The short-lived channel access token every process of a deployment shares."""

from tortoise import fields
from tortoise.models import Model


class ChannelToken(Model):
    """The current short-lived channel access token of a channel (a secret, valid 15 minutes),
    shared by every process, until `expires_at` (epoch seconds)."""

    id = fields.IntField(primary_key=True)
    channel_id = fields.CharField(max_length=32, unique=True)
    token = fields.TextField()
    expires_at = fields.FloatField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "channel_token"
