"""Rich menus the bot created on LINE: which LINE rich menu ID serves which role."""

from tortoise import fields
from tortoise.models import Model


class RichMenu(Model):
    """The LINE rich menu currently serving one role (`unlinked` or `linked`), and the digest
    of the spec and image it was made from, so a sync recreates only what changed."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=16, unique=True)
    rich_menu_id = fields.CharField(max_length=64)
    digest = fields.CharField(max_length=64)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "rich_menu"
