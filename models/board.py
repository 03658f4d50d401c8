"""The board (掲示板) of an alert: follow-up posts to the people it reached, and their replies."""

from tortoise import fields
from tortoise.models import Model

from models.alerts import Alert
from models.organization import Employee


class BoardPost(Model):
    """A follow-up message posted to the board of an alert by a sender or supervisor.

    `departments` holds the department IDs the post is addressed to (those below them too);
    empty, it reaches everyone the alert reached. `round` is the delivery round of its LINE
    push, when it was pushed."""

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "models.Alert", related_name="board_posts", on_delete=fields.CASCADE
    )
    author = fields.CharField(max_length=100)  # the name employees see (a department, a user)
    body = fields.TextField()
    departments = fields.JSONField(default=list)
    replies_allowed = fields.BooleanField(default=False)
    pushed = fields.BooleanField(default=False)
    round = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "board_post"


class BoardReply(Model):
    """A reply of an employee to a board post (only posts that allow replies take them)."""

    id = fields.IntField(primary_key=True)
    post: fields.ForeignKeyRelation[BoardPost] = fields.ForeignKeyField(
        "models.BoardPost", related_name="replies", on_delete=fields.CASCADE
    )
    employee: fields.ForeignKeyRelation[Employee] = fields.ForeignKeyField(
        "models.Employee", related_name="board_replies", on_delete=fields.CASCADE
    )
    body = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "board_reply"
