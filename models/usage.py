"""Billable LINE messages per day, counted when LINE accepts a push or multicast."""

from tortoise import fields
from tortoise.models import Model


class UsageDay(Model):
    """Messages LINE accepted for billing on one day (Japan time). A multicast counts each
    recipient, replies are free and never counted."""

    id = fields.IntField(primary_key=True)
    day = fields.DateField(unique=True)
    messages = fields.IntField(default=0)

    class Meta:
        table = "usage_day"


class OrganizationSettings(Model):
    """The organisation's settings (one row): 連絡先情報閲覧可 and the monthly message pack."""

    id = fields.IntField(primary_key=True)
    contact_info_viewable = fields.BooleanField(default=False)
    monthly_pack = fields.IntField(default=3000)
    # The employee page: set a password after the first sign-in (else codes every time).
    employee_passwords = fields.BooleanField(default=True)
    # Supervisors see employees' family status (within their scope): off unless chosen.
    family_visible = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "organization_settings"
