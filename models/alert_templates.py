"""Alert templates: title, message, ordered check items, contact media."""

from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.enums import EmailMode

DEFAULT_TEMPLATE_KEY = "earthquake"

# The seed's own template (its answer screen shows exactly these items).
DEFAULT_TEMPLATE: dict[str, Any] = {
    "key": DEFAULT_TEMPLATE_KEY,
    "title": "【地震】安否確認",
    "message": (
        "関東地域におきまして、震度6強の地震が発生しました。\n各自、安否状況を登録してください。"
    ),
    "items": [
        {"label": "本人", "required": True, "choices": ["無事", "軽傷", "重傷"]},
        {"label": "家族", "required": True, "choices": ["全員無事", "一部負傷", "不明"]},
        {"label": "家屋", "required": True, "choices": ["被害なし", "一部倒壊", "全壊"]},
        {"label": "出社", "required": True, "choices": ["可能", "不可能", "未定"]},
    ],
    "line_enabled": True,
    "email_enabled": False,
}


class Template(Model):
    """What an alert says and asks. `items` is an ordered list of
    `{"label": str, "required": bool, "choices": [str, ...]}`."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=50, unique=True)
    title = fields.CharField(max_length=200)
    message = fields.TextField()
    # English wording ("" = none: English readers see the Japanese); items carry their own
    # optional `label_en` and `choices_en`.
    title_en = fields.CharField(max_length=200, default="")
    message_en = fields.TextField(default="")
    items = fields.JSONField()
    line_enabled = fields.BooleanField(default=True)
    email_enabled = fields.BooleanField(default=False)
    email_mode = fields.CharEnumField(EmailMode, max_length=16, default=EmailMode.BOTH)
    fallback_delay_minutes = fields.IntField(default=30)  # e-mail after this long unanswered
    reminder_interval_minutes = fields.IntField(default=0)  # 0: no scheduled reminders
    reminder_max = fields.IntField(default=0)  # at most this many while the alert is open
    follow_up_message = fields.TextField(default="")  # 二次連絡 of the scheduled reminders
    family = fields.BooleanField(default=False)  # family members get their own question
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "template"


async def ensure_default_template() -> Template:
    """Create the seed's default template once; leave an edited one alone."""
    template, _ = await Template.get_or_create(
        key=DEFAULT_TEMPLATE_KEY,
        defaults={k: v for k, v in DEFAULT_TEMPLATE.items() if k != "key"},
    )
    return template
