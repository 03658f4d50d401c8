"""Alerts: a frozen copy of a template sent to a roster of employees."""

from tortoise import fields
from tortoise.models import Model

from models.alert_templates import Template
from models.enums import EmailMode
from models.organization import Department, Employee


class Alert(Model):
    """One safety confirmation: what was asked, by whom, to whom, and when."""

    id = fields.IntField(primary_key=True)
    template: fields.ForeignKeyNullableRelation[Template] = fields.ForeignKeyField(
        "models.Template", related_name="alerts", null=True, on_delete=fields.SET_NULL
    )
    title = fields.CharField(max_length=200)
    message = fields.TextField()
    title_en = fields.CharField(max_length=200, default="")  # "" = none: Japanese
    message_en = fields.TextField(default="")
    items = fields.JSONField()
    sender_name = fields.CharField(max_length=100)
    drill = fields.BooleanField(default=False)
    line_enabled = fields.BooleanField(default=True)
    email_enabled = fields.BooleanField(default=False)
    email_mode = fields.CharEnumField(EmailMode, max_length=16, default=EmailMode.BOTH)
    fallback_delay_minutes = fields.IntField(default=30)
    reminder_interval_minutes = fields.IntField(default=0)
    reminder_max = fields.IntField(default=0)
    follow_up_message = fields.TextField(default="")
    family = fields.BooleanField(default=False)  # frozen from the template
    scheduled_reminders = fields.IntField(default=0)  # scheduled rounds sent so far
    next_reminder_at = fields.DatetimeField(null=True)
    started_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)
    # LINE refused for the month (or for good): no more LINE sends for this alert.
    line_halted_at = fields.DatetimeField(null=True)
    line_halted_reason = fields.TextField(null=True)
    target_departments: fields.ManyToManyRelation[Department] = fields.ManyToManyField(
        "models.Department", related_name="alerts", through="alert_target_department"
    )

    class Meta:
        table = "alert"

    @property
    def is_closed(self) -> bool:
        """Whether answers are no longer accepted."""
        return self.closed_at is not None


class AlertRecipient(Model):
    """The roster of an alert, frozen at start (with each employee's department then).

    Written 100,000 rows at a time with its alert, from employee rows, and nothing deletes
    an alert, an employee or a department: the references carry no database constraint,
    whose check per row was most of a large alert's start on PostgreSQL."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "models.Alert", related_name="recipients", on_delete=fields.CASCADE, db_constraint=False
    )
    employee: fields.ForeignKeyRelation[Employee] = fields.ForeignKeyField(
        "models.Employee",
        related_name="alert_recipients",
        on_delete=fields.CASCADE,
        db_constraint=False,
    )
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "models.Department",
        related_name="alert_recipients",
        null=True,
        on_delete=fields.SET_NULL,
        db_constraint=False,
    )

    class Meta:
        table = "alert_recipient"
        unique_together = (("alert", "employee"),)
