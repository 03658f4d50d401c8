"""Token buckets shared by every process of a deployment, one per LINE endpoint."""

from tortoise import fields
from tortoise.models import Model


class RateBucket(Model):
    """How many requests an endpoint may still make now (`tokens`, refilled at the
    endpoint's rate since `refilled_at`, epoch seconds)."""

    id = fields.IntField(primary_key=True)
    endpoint = fields.CharField(max_length=32, unique=True)
    tokens = fields.FloatField()
    refilled_at = fields.FloatField()

    class Meta:
        table = "rate_bucket"
