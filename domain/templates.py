"""Alert templates as maintainers edit them: key, title, message, ordered check items with
ordered choices and a required flag, and the contact media (LINEアプリ, e-mail). Alerts freeze
their own copy when they start, so an edit never changes an alert already started."""

import re
from dataclasses import dataclass
from typing import Any

from domain.actors import Actor
from domain.alerts import MAX_FOLLOW_UP_LENGTH
from domain.audit import audited
from domain.check_items import CheckItem, items_to_json, parse_items
from domain.errors import Invalid, NotFound
from domain.i18n import gettext as _
from models import EmailMode, Template

KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")
MAX_TITLE_LENGTH = 200
MAX_MESSAGE_LENGTH = 2000
REQUIRED_MARKS = ("*", "＊")
WORRYING_MARKS = ("!", "！")
LABEL_SEPARATORS = (":", "：")
CHOICE_SEPARATORS = re.compile(r"[,、，]")
# E-mail after LINE, and scheduled reminders (re-sent to those who have not answered).
FALLBACK_DELAY_RANGE = (1, 1440)  # minutes
MIN_REMINDER_INTERVAL, MAX_REMINDER_INTERVAL = 5, 1440  # minutes, when on (0 = off)
MAX_REMINDERS = 10


@dataclass(frozen=True)
class TemplateDraft:
    """A template as submitted: items in the editor's text form, one item a line
    (`本人*: 無事, 軽傷, 重傷!`; `*` marks a required item, `!` a worrying choice)."""

    key: str = ""
    title: str = ""
    message: str = ""
    items_text: str = ""
    line_enabled: bool = True
    email_enabled: bool = False
    # As typed (numbers are checked by the validation, which names what is wrong).
    email_mode: str = EmailMode.BOTH.value
    fallback_delay_minutes: str = "30"
    reminder_interval_minutes: str = "0"
    reminder_max: str = "0"
    follow_up_message: str = ""
    family: bool = False  # family members get their own short question
    # Optional English: title, message, and the items one line each in the same order
    # (`Yourself: Safe, Injured, Badly injured`; an empty line leaves that item Japanese).
    title_en: str = ""
    message_en: str = ""
    items_en_text: str = ""


def english_items(items: tuple[CheckItem, ...], text: str) -> tuple[CheckItem, ...]:
    """The items with the English of the editor's English lines (line n is item n; choices
    in the same order, fewer than the item's leave the rest Japanese)."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) > len(items):
        raise Invalid(
            _(
                "英語の確認項目が%(lines)s行あります。確認項目(%(items)s個)と同じ順に"
                "1行ずつ書いてください。",
                lines=len(lines),
                items=len(items),
            ),
            code="invalid_items",
        )
    english = []
    for item, line in zip(items, lines + [""] * (len(items) - len(lines)), strict=True):
        separator = next((s for s in LABEL_SEPARATORS if s in line), None)
        label, _sep, rest = line.partition(separator) if separator else (line, "", "")
        choices = [c.strip() for c in CHOICE_SEPARATORS.split(rest)] if rest.strip() else []
        english.append({**item.to_json(), "label_en": label.strip(), "choices_en": choices})
    return parse_items(english)


def items_en_to_text(items: Any) -> str:
    """Stored items' English in the editor's text form (one line per item)."""
    try:
        parsed = parse_items(items)
    except Invalid:
        return ""
    lines = [
        f"{item.label_en}: {', '.join(item.choices_en)}" if any(item.choices_en) else item.label_en
        for item in parsed
    ]
    return "\n".join(lines).rstrip()


def items_from_text(text: str) -> list[dict[str, Any]]:
    """Parse the editor's lines into stored-shape items (validated later by parse_items)."""
    items: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        separator = next((s for s in LABEL_SEPARATORS if s in line), None)
        if separator is None:
            raise Invalid(
                _(
                    "確認項目の%(number)s行目に「:」がありません(例: 本人*: 無事, 軽傷, 重傷)。",
                    number=number,
                ),
                code="invalid_items",
            )
        label, _separator, rest = line.partition(separator)
        label = label.strip()
        required = label.endswith(REQUIRED_MARKS)
        if required:
            label = label[:-1].strip()
        choices, worrying = [], []
        for choice in CHOICE_SEPARATORS.split(rest):
            choice = choice.strip()
            if choice.endswith(WORRYING_MARKS):
                choice = choice[:-1].strip()
                worrying.append(choice)
            choices.append(choice)
        # Explicit, so what the editor marks is exactly what supervisors see highlighted.
        items.append(
            {"label": label, "required": required, "choices": choices, "worrying": worrying}
        )
    return items


def items_to_text(items: Any) -> str:
    """Stored items in the editor's text form (worrying choices marked, defaults included)."""
    try:
        parsed = parse_items(items)
    except Invalid:  # a row written by hand: show what can be shown, the editor validates
        parsed = tuple(
            CheckItem(str(i.get("label", "")), tuple(map(str, i.get("choices", []))), True)
            for i in items or []
            if isinstance(i, dict)
        )
    lines = []
    for item in parsed:
        mark = "*" if item.required else ""
        worrying = set(item.worrying_choices)
        choices = ", ".join(f"{c}!" if c in worrying else c for c in item.choices)
        lines.append(f"{item.label}{mark}: {choices}")
    return "\n".join(lines)


def draft_of(template: Template) -> TemplateDraft:
    """A stored template as the editor shows it."""
    return TemplateDraft(
        key=template.key,
        title=template.title,
        message=template.message,
        items_text=items_to_text(template.items),
        line_enabled=template.line_enabled,
        email_enabled=template.email_enabled,
        email_mode=template.email_mode.value,
        fallback_delay_minutes=str(template.fallback_delay_minutes),
        reminder_interval_minutes=str(template.reminder_interval_minutes),
        reminder_max=str(template.reminder_max),
        follow_up_message=template.follow_up_message,
        family=template.family,
        title_en=template.title_en,
        message_en=template.message_en,
        items_en_text=items_en_to_text(template.items),
    )


def _minutes(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else None


def _delivery_options(draft: TemplateDraft, errors: dict[str, str]) -> dict[str, Any]:
    """The e-mail mode, fallback delay and scheduled reminders of a draft, with what is wrong
    added to `errors`."""
    low, high = FALLBACK_DELAY_RANGE
    delay = _minutes(draft.fallback_delay_minutes)
    if delay is None or not low <= delay <= high:
        errors["fallback_delay_minutes"] = _(
            "LINEの後にe-mailを送るまでの時間は%(low)s〜%(high)s分で指定してください。",
            low=low,
            high=high,
        )
    interval = _minutes(draft.reminder_interval_minutes)
    if interval is None or (
        interval and not MIN_REMINDER_INTERVAL <= interval <= MAX_REMINDER_INTERVAL
    ):
        errors["reminder_interval_minutes"] = _(
            "再通知の間隔は0(しない)か%(low)s〜%(high)s分で指定してください。",
            low=MIN_REMINDER_INTERVAL,
            high=MAX_REMINDER_INTERVAL,
        )
    most = _minutes(draft.reminder_max)
    if most is None or most > MAX_REMINDERS:
        errors["reminder_max"] = _(
            "再通知の回数は0〜%(most)s回で指定してください。", most=MAX_REMINDERS
        )
    follow_up = draft.follow_up_message.strip()
    if len(follow_up) > MAX_FOLLOW_UP_LENGTH:
        errors["follow_up_message"] = _(
            "二次連絡のメッセージは%(most)s文字以内にしてください。", most=MAX_FOLLOW_UP_LENGTH
        )
    mode = draft.email_mode if draft.email_mode in set(EmailMode) else None
    if mode is None:
        errors["email_mode"] = _("e-mailの送り方を選択してください。")
    return {
        "email_mode": EmailMode(mode or EmailMode.BOTH),
        "fallback_delay_minutes": delay or 0,
        "reminder_interval_minutes": interval or 0,
        "reminder_max": most or 0,
        "follow_up_message": follow_up,
    }


async def list_templates() -> list[Template]:
    """Every template, by key."""
    return await Template.all().order_by("key")


async def get_template(template_id: int) -> Template:
    """A template by ID."""
    template = await Template.get_or_none(id=template_id) if 0 < template_id < 2**31 else None
    if template is None:
        raise NotFound(_("テンプレートが見つかりません。"), code="template_not_found")
    return template


async def _validate(
    draft: TemplateDraft, template_id: int | None
) -> tuple[tuple[CheckItem, ...], dict[str, Any]]:
    """Every problem of a draft at once (Invalid with `fields`), or its parsed items and its
    delivery options."""
    errors: dict[str, str] = {}
    key = draft.key.strip()
    if not KEY_PATTERN.fullmatch(key):
        errors["key"] = _("キーは半角英小文字・数字・「-」「_」で50文字以内にしてください。")
    elif await Template.filter(key=key).exclude(id=template_id or 0).exists():
        errors["key"] = _("キー「%(key)s」は既に使われています。", key=key)
    if not draft.title.strip():
        errors["title"] = _("タイトルを入力してください。")
    elif len(draft.title.strip()) > MAX_TITLE_LENGTH:
        errors["title"] = _("タイトルは%(most)s文字以内にしてください。", most=MAX_TITLE_LENGTH)
    if not draft.message.strip():
        errors["message"] = _("連絡メッセージを入力してください。")
    elif len(draft.message.strip()) > MAX_MESSAGE_LENGTH:
        errors["message"] = _(
            "連絡メッセージは%(most)s文字以内にしてください。", most=MAX_MESSAGE_LENGTH
        )
    if len(draft.title_en.strip()) > MAX_TITLE_LENGTH:
        errors["title_en"] = _(
            "英語のタイトルは%(most)s文字以内にしてください。", most=MAX_TITLE_LENGTH
        )
    if len(draft.message_en.strip()) > MAX_MESSAGE_LENGTH:
        errors["message_en"] = _(
            "英語の連絡メッセージは%(most)s文字以内にしてください。", most=MAX_MESSAGE_LENGTH
        )
    items: tuple[CheckItem, ...] = ()
    try:
        items = parse_items(items_from_text(draft.items_text))
    except Invalid as exc:
        errors["items"] = exc.message
    else:
        try:
            items = english_items(items, draft.items_en_text)
        except Invalid as exc:
            errors["items_en"] = exc.message
    if not (draft.line_enabled or draft.email_enabled):
        errors["media"] = _("連絡媒体を1つ以上選択してください。")
    options = _delivery_options(draft, errors)
    if errors:
        raise Invalid(_("入力内容を確認してください。"), code="invalid_template", fields=errors)
    return items, options


async def create_template(draft: TemplateDraft, actor: Actor) -> Template:
    """Create a template from a valid draft, with an audit row (a draft to correct has none)."""
    items, options = await _validate(draft, None)
    async with audited(actor, "template_created", target=draft.key.strip()) as entry:
        template = await Template.create(
            key=draft.key.strip(),
            title=draft.title.strip(),
            message=draft.message.strip(),
            title_en=draft.title_en.strip(),
            message_en=draft.message_en.strip(),
            items=items_to_json(items),
            line_enabled=draft.line_enabled,
            email_enabled=draft.email_enabled,
            family=draft.family,
            **options,
        )
        entry.detail = {"id": template.id}
    return template


async def update_template(template_id: int, draft: TemplateDraft, actor: Actor) -> Template:
    """Change a template (alerts already started keep their own copy), with an audit row
    naming the fields that changed."""
    template = await get_template(template_id)
    items, options = await _validate(draft, template.id)
    changes = {
        "key": draft.key.strip(),
        "title": draft.title.strip(),
        "message": draft.message.strip(),
        "title_en": draft.title_en.strip(),
        "message_en": draft.message_en.strip(),
        "items": items_to_json(items),
        "line_enabled": draft.line_enabled,
        "email_enabled": draft.email_enabled,
        "family": draft.family,
        **options,
    }
    changed = sorted(name for name, value in changes.items() if getattr(template, name) != value)
    async with audited(actor, "template_updated", target=changes["key"]) as entry:
        entry.detail = {"id": template.id, "changed": changed}
        if changed:
            await template.update_from_dict(changes).save()
    return template
