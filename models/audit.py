"""The audit log: who did what, through which face, with what result."""

from tortoise import fields
from tortoise.models import Model


class AuditEntry(Model):
    """One action: sign-ins, alerts started and closed, reminders, exports, imports, setting
    changes, admin-group commands. `actor` is a console login, an employee code or `cli`."""

    id = fields.IntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True)
    via = fields.CharField(max_length=16)  # domain.actors.Via: line, group, console, me, cli…
    actor = fields.CharField(max_length=100)
    action = fields.CharField(max_length=64)
    target = fields.CharField(max_length=200, default="")
    result = fields.CharField(max_length=16, default="ok")  # ok, refused, failed
    detail = fields.JSONField(null=True)

    class Meta:
        table = "audit_entry"
        indexes = (("at",), ("actor", "at"))
