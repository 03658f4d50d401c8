"""LINE accounts: only the user ID and display name are kept from LINE (seed FAQ Q1)."""

from tortoise import fields
from tortoise.models import Model

from models.organization import Employee


class LineAccount(Model):
    """A LINE user who befriended the official account, and the employee it is linked to."""

    id = fields.IntField(primary_key=True)
    user_id = fields.CharField(max_length=64, unique=True)
    display_name = fields.CharField(max_length=200, default="")
    employee: fields.OneToOneNullableRelation[Employee] = fields.OneToOneField(
        "models.Employee", related_name="line_account", null=True, on_delete=fields.SET_NULL
    )
    followed = fields.BooleanField(default=True)
    blocked = fields.BooleanField(default=False)
    linked_at = fields.DatetimeField(null=True)
    # Linked from the employee page (LINE Login) and not yet told so in LINE: the completion
    # message is owed, sent once by whoever clears this (the follow reply or one push).
    link_notice_owed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "line_account"

    @property
    def reachable(self) -> bool:
        """Whether a push or multicast can reach this user."""
        return self.followed and not self.blocked
