"""Automatic alerts from JMA bulletins: the rules maintainers edit, the bulletins received,
one row per event (earthquake or special warning) with what was decided for it, and the
messages owed to the admin groups."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.alert_templates import Template
from models.alerts import Alert


class JmaRuleKind(StrEnum):
    """What a rule watches."""

    QUAKE = "quake"  # intensity >= X in these prefectures or areas
    TSUNAMI = "tsunami"  # a tsunami warning or above on these coasts
    WEATHER = "weather"  # a special weather warning (特別警報) in these areas


class JmaEventState(StrEnum):
    """What was decided for an event."""

    SEEN = "seen"  # no rule fired (yet: a later bulletin may raise it)
    PENDING = "pending"  # a rule fired; the alert waits out the rule's delay
    STARTED = "started"  # the alert started
    SUPPRESSED = "suppressed"  # inside a rule's suppression window: the admin groups were told
    CANCELLED = "cancelled"  # the delayed alert was cancelled (by an admin, or by a 取消)
    NO_TARGET = "no_target"  # a rule fired but nobody was in its offices


class JmaRule(Model):
    """A maintainer's rule: which bulletins start which template for whom."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    kind = fields.CharEnumField(JmaRuleKind, max_length=16)
    min_intensity = fields.CharField(max_length=4, null=True)  # quake rules: "5-", "6+"
    areas = fields.JSONField()  # prefecture, area or coast names or codes, as given
    template: fields.ForeignKeyNullableRelation[Template] = fields.ForeignKeyField(
        "models.Template", related_name="jma_rules", null=True, on_delete=fields.SET_NULL
    )
    offices_only = fields.BooleanField(default=False)  # only departments in the prefectures hit
    suppress_minutes = fields.IntField(default=720)  # 再通知抑止時間
    delay_minutes = fields.IntField(default=0)
    drills = fields.BooleanField(default=False)  # 訓練 bulletins start drills
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "jma_rule"


class JmaEvent(Model):
    """One earthquake (its EventID) or special warning, and what its bulletins started."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=200, unique=True)
    drill = fields.BooleanField(default=False)
    summary = fields.TextField(default="")  # time, epicentre, magnitude, max intensity
    state = fields.CharEnumField(JmaEventState, max_length=16, default=JmaEventState.SEEN)
    rule: fields.ForeignKeyNullableRelation[JmaRule] = fields.ForeignKeyField(
        "models.JmaRule", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    bulletin: fields.ForeignKeyNullableRelation["JmaBulletin"] = fields.ForeignKeyField(
        "models.JmaBulletin", related_name="fired_events", null=True, on_delete=fields.SET_NULL
    )
    alert: fields.ForeignKeyNullableRelation[Alert] = fields.ForeignKeyField(
        "models.Alert", related_name="jma_events", null=True, on_delete=fields.SET_NULL
    )
    departments = fields.JSONField(default=list)  # the offices a pending alert targets
    decided_at = fields.DatetimeField(null=True)  # when a rule fired or was suppressed
    due_at = fields.DatetimeField(null=True, db_index=True)  # a pending alert starts then
    withdrawn_at = fields.DatetimeField(null=True)  # a 取消 bulletin arrived
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "jma_event"


class JmaBulletin(Model):
    """A bulletin received (from the feed or a replay) and what it did."""

    id = fields.IntField(primary_key=True)
    digest = fields.CharField(max_length=64, unique=True)  # SHA-256 of the file
    entry_id = fields.CharField(max_length=500, null=True, db_index=True)  # the feed entry
    kind = fields.CharField(max_length=8)
    status = fields.CharField(max_length=8)
    info_type = fields.CharField(max_length=8)
    title = fields.CharField(max_length=200)
    event_key = fields.CharField(max_length=200, db_index=True)
    serial = fields.CharField(max_length=16, default="")
    report_time = fields.DatetimeField(null=True)
    outcome = fields.TextField(default="")
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "jma_bulletin"


class JmaNotice(Model):
    """A message owed to every admin group (an alert started, an aftershock suppressed, a
    取消); sent by the JMA worker, so a crash after the decision still sends it."""

    id = fields.IntField(primary_key=True)
    text = fields.TextField()
    event: fields.ForeignKeyNullableRelation[JmaEvent] = fields.ForeignKeyField(
        "models.JmaEvent", related_name="notices", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=16, default="")  # the button it carries: start/cancel
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True, db_index=True)
    groups_done = fields.JSONField(default=list)  # admin group IDs already pushed to

    class Meta:
        table = "jma_notice"
