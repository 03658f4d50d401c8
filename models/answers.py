"""Answers to alerts, the history of their revisions, and their running counts."""

from collections.abc import Sequence

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
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
    # The choices this answer replaced (null for a first answer), written by the same upsert
    # so that the counts move from exactly what was stored before.
    previous_choices = fields.JSONField(null=True)

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


# The rows of `answer_count` that are not an item's choice (item labels are never empty).
WHOLE = ""
RECIPIENTS = "recipients"
ANSWERED = "answered"
NO_DEPARTMENT = 0
# Each department's counts are split over this many rows per choice (by employee), which the
# tally adds up: answers arriving together on PostgreSQL then rarely wait for one another's
# row locks (one row per department and choice made every answer of a department queue for
# it until the one before had committed).
SHARDS = 16


class AnswerCount(Model):
    """How many of an alert's recipients in one department (of the roster, 0 for none) gave
    one choice of one item (item and choice as stored in the answers, the canonical
    labels), kept in each answer's transaction so a tally reads a few rows instead of every
    answer. Item '' holds the department's recipients and answered."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "models.Alert", related_name="answer_counts", on_delete=fields.CASCADE
    )
    department_id = fields.IntField(default=NO_DEPARTMENT)
    item = fields.CharField(max_length=200)
    choice = fields.CharField(max_length=200)
    shard = fields.IntField(default=0)  # the answerer's employee ID modulo SHARDS
    n = fields.IntField(default=0)

    class Meta:
        table = "answer_count"
        unique_together = (("alert", "department_id", "item", "choice", "shard"),)


# Count rows from the roster and the answers themselves: the counts of an alert as they are
# kept answer by answer (`domain.answer_counts`). `{alerts}` narrows to some alerts.
_RECOUNT = (
    "INSERT INTO answer_count (alert_id, department_id, item, choice, shard, n)"
    " SELECT r.alert_id, COALESCE(r.department_id, 0), {item}, {choice}, 0, COUNT(*)"
    " FROM alert_recipient r{answers} WHERE 1 = 1{alerts}"
    " GROUP BY r.alert_id, COALESCE(r.department_id, 0){by}"
)
_ANSWERS = " JOIN answer a ON a.alert_id = r.alert_id AND a.employee_id = r.employee_id"


async def recount_answers(client: BaseDBAsyncClient, alert_ids: Sequence[int] | None) -> None:
    """Write the counts of these alerts (all when None) afresh from the roster and the
    answers: for alerts whose answers were written without them (a migration, bulk data),
    each in shard 0."""
    postgres = client.capabilities.dialect == "postgres"
    where, params = "", []
    if alert_ids is not None:
        params = list(alert_ids)
        if not params:
            return
        marks = ", ".join(f"${n}" if postgres else "?" for n in range(1, len(params) + 1))
        where = f" AND alert_id IN ({marks})"
    await client.execute_query(f"DELETE FROM answer_count WHERE 1 = 1{where}", params)
    where = where.replace("alert_id", "r.alert_id")
    each = " CROSS JOIN " + ("jsonb_each_text(a.choices)" if postgres else "json_each(a.choices)")
    for item, choice, answers, by in (
        (f"'{WHOLE}'", f"'{RECIPIENTS}'", "", ""),
        (f"'{WHOLE}'", f"'{ANSWERED}'", _ANSWERS, ""),
        ("j.key", "j.value", _ANSWERS + each + " j", ", j.key, j.value"),
    ):
        sql = _RECOUNT.format(item=item, choice=choice, answers=answers, alerts=where, by=by)
        await client.execute_query(sql, params)
