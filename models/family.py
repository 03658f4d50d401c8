"""Family members an employee registered, and their safety answers to alerts."""

from tortoise import fields
from tortoise.models import Model

from models.alerts import Alert
from models.enums import FamilyStatus
from models.organization import Employee


class FamilyMember(Model):
    """A family member of an employee: a name and relation, optionally an e-mail address
    (used once confirmed) and a LINE account linked through their own one-time code."""

    id = fields.IntField(primary_key=True)
    employee: fields.ForeignKeyRelation[Employee] = fields.ForeignKeyField(
        "models.Employee", related_name="family", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    relation = fields.CharField(max_length=50)
    email = fields.CharField(max_length=254, null=True)
    email_confirmed_at = fields.DatetimeField(null=True)
    line_user_id = fields.CharField(max_length=64, null=True, unique=True)
    link_code_hash = fields.CharField(max_length=200, null=True)  # argon2, shown once
    link_code_expires_at = fields.DatetimeField(null=True)
    linked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "family_member"


class FamilyAnswer(Model):
    """A family member current status for an alert, given by them or by their employee."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "models.Alert", related_name="family_answers", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[FamilyMember] = fields.ForeignKeyField(
        "models.FamilyMember", related_name="answers", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(FamilyStatus, max_length=16)
    message = fields.TextField(default="")
    channel = fields.CharField(max_length=16)  # line, email, me, liff
    by_employee = fields.BooleanField(default=False)  # the employee answered for them
    revision = fields.IntField(default=1)
    answered_at = fields.DatetimeField()

    class Meta:
        table = "family_answer"
        unique_together = (("alert", "member"),)


class FamilyAnswerRevision(Model):
    """Every family answer ever given, kept when a later one replaces it."""

    id = fields.IntField(primary_key=True)
    answer: fields.ForeignKeyRelation[FamilyAnswer] = fields.ForeignKeyField(
        "models.FamilyAnswer", related_name="revisions", on_delete=fields.CASCADE
    )
    revision = fields.IntField()
    status = fields.CharEnumField(FamilyStatus, max_length=16)
    message = fields.TextField(default="")
    channel = fields.CharField(max_length=16)
    by_employee = fields.BooleanField(default=False)
    answered_at = fields.DatetimeField()

    class Meta:
        table = "family_answer_revision"
        unique_together = (("answer", "revision"),)
