"""Admin groups: LINE groups bound as command rooms, their one-time bind codes, and the
confirmations a command waits on."""

from tortoise import fields
from tortoise.models import Model

from models.organization import Employee


class AdminGroup(Model):
    """A LINE group bound as an admin group (its group ID, and its name when LINE told it)."""

    id = fields.IntField(primary_key=True)
    group_id = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=100, default="")  # empty when LINE did not tell
    bound_by = fields.CharField(max_length=100)  # the binder's employee code
    bound_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "admin_group"


class GroupBindCode(Model):
    """A one-time code (stored as an argon2 hash) that binds one group, until it expires."""

    id = fields.IntField(primary_key=True)
    code_hash = fields.CharField(max_length=200)
    created_by = fields.CharField(max_length=100)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    used_by_group = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "group_bind_code"


class PendingCommand(Model):
    """A command waiting for its 実行/取消 tap: only the requester, once, before it expires.
    The token in the buttons is stored as a SHA-256 hash."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    group_id = fields.CharField(max_length=64)
    user_id = fields.CharField(max_length=64)
    employee: fields.ForeignKeyRelation[Employee] = fields.ForeignKeyField(
        "models.Employee", related_name="pending_commands", on_delete=fields.CASCADE
    )
    command = fields.CharField(max_length=16)
    payload = fields.JSONField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "pending_command"
