"""Alert templates as maintainers edit them: key, title, message, ordered check items with
ordered choices and a required flag, and the contact media (LINEアプリ, e-mail). Alerts freeze
their own copy when they start, so an edit never changes an alert already started."""

import re
from dataclasses import dataclass
from typing import Any

from domain import audit
from domain.check_items import CheckItem, items_to_json, parse_items
from domain.errors import Invalid, NotFound
from models import Template

KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")
MAX_TITLE_LENGTH = 200
MAX_MESSAGE_LENGTH = 2000
REQUIRED_MARKS = ("*", "＊")
WORRYING_MARKS = ("!", "！")
LABEL_SEPARATORS = (":", "：")
CHOICE_SEPARATORS = re.compile(r"[,、，]")


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
                f"確認項目の{number}行目に「:」がありません(例: 本人*: 無事, 軽傷, 重傷)。",
                code="invalid_items",
            )
        label, _, rest = line.partition(separator)
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
    )


async def list_templates() -> list[Template]:
    """Every template, by key."""
    return await Template.all().order_by("key")


async def get_template(template_id: int) -> Template:
    """A template by ID."""
    template = await Template.get_or_none(id=template_id) if 0 < template_id < 2**31 else None
    if template is None:
        raise NotFound("テンプレートが見つかりません。", code="template_not_found")
    return template


async def _validate(draft: TemplateDraft, template_id: int | None) -> tuple[CheckItem, ...]:
    """Every problem of a draft at once (Invalid with `fields`), or its parsed items."""
    errors: dict[str, str] = {}
    key = draft.key.strip()
    if not KEY_PATTERN.fullmatch(key):
        errors["key"] = "キーは半角英小文字・数字・「-」「_」で50文字以内にしてください。"
    elif await Template.filter(key=key).exclude(id=template_id or 0).exists():
        errors["key"] = f"キー「{key}」は既に使われています。"
    if not draft.title.strip():
        errors["title"] = "タイトルを入力してください。"
    elif len(draft.title.strip()) > MAX_TITLE_LENGTH:
        errors["title"] = f"タイトルは{MAX_TITLE_LENGTH}文字以内にしてください。"
    if not draft.message.strip():
        errors["message"] = "連絡メッセージを入力してください。"
    elif len(draft.message.strip()) > MAX_MESSAGE_LENGTH:
        errors["message"] = f"連絡メッセージは{MAX_MESSAGE_LENGTH}文字以内にしてください。"
    items: tuple[CheckItem, ...] = ()
    try:
        items = parse_items(items_from_text(draft.items_text))
    except Invalid as exc:
        errors["items"] = exc.message
    if not (draft.line_enabled or draft.email_enabled):
        errors["media"] = "連絡媒体を1つ以上選択してください。"
    if errors:
        raise Invalid("入力内容を確認してください。", code="invalid_template", fields=errors)
    return items


async def create_template(draft: TemplateDraft, actor: str) -> Template:
    """Create a template from a valid draft, with an audit row."""
    items = await _validate(draft, None)
    template = await Template.create(
        key=draft.key.strip(),
        title=draft.title.strip(),
        message=draft.message.strip(),
        items=items_to_json(items),
        line_enabled=draft.line_enabled,
        email_enabled=draft.email_enabled,
    )
    await audit.record("console", actor, "template_created", target=template.key,
                       detail={"id": template.id})  # fmt: skip
    return template


async def update_template(template_id: int, draft: TemplateDraft, actor: str) -> Template:
    """Change a template (alerts already started keep their own copy), with an audit row
    naming the fields that changed."""
    template = await get_template(template_id)
    items = await _validate(draft, template.id)
    changes = {
        "key": draft.key.strip(),
        "title": draft.title.strip(),
        "message": draft.message.strip(),
        "items": items_to_json(items),
        "line_enabled": draft.line_enabled,
        "email_enabled": draft.email_enabled,
    }
    changed = sorted(name for name, value in changes.items() if getattr(template, name) != value)
    if changed:
        await template.update_from_dict(changes).save()
    await audit.record("console", actor, "template_updated", target=template.key,
                       detail={"id": template.id, "changed": changed})  # fmt: skip
    return template
