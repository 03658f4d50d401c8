"""Answers to alerts, and the history of their revisions."""

from tortoise import fields
from tortoise.models import Model

from models.alerts import Alert
from models.enums import AnswerChannel
from models.organization import Employee


class Answer(Model):
    """An employee current answer to an alert. `choices` maps item label to choice."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "models.Alert", related_name="answers", on_delete=fields.CASCADE
    )
    employee: fields.ForeignKeyRelation[Employee] = fields.ForeignKeyField(
        "models.Employee", related_name="answers", on_delete=fields.CASCADE
    )
    choices = fields.JSONField()
    message = fields.TextField(default="")
    channel = fields.CharEnumField(AnswerChannel, max_length=16)
    revision = fields.IntField(default=1)
    answered_at = fields.DatetimeField()
    # 代理回答: the console user who entered it for the employee (null: the employee did).
    entered_by = fields.CharField(max_length=100, null=True)

    class Meta:
        table = "answer"
        unique_together = (("alert", "employee"),)


class AnswerRevision(Model):
    """Every answer ever given, kept when a later one replaces it."""

    id = fields.IntField(primary_key=True)
    answer: fields.ForeignKeyRelation[Answer] = fields.ForeignKeyField(
        "models.Answer", related_name="revisions", on_delete=fields.CASCADE
    )
    revision = fields.IntField()
    choices = fields.JSONField()
    message = fields.TextField(default="")
    channel = fields.CharEnumField(AnswerChannel, max_length=16)
    answered_at = fields.DatetimeField()
    entered_by = fields.CharField(max_length=100, null=True)

    class Meta:
        table = "answer_revision"
        unique_together = (("answer", "revision"),)
