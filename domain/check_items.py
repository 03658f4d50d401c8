"""Check items (確認項目) and their choices: the typed form of a template's or alert's
`items`, parsed and validated in this one place."""

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from domain.errors import Invalid
from domain.i18n import gettext as _

MAX_LABEL_LENGTH = 50
MAX_CHOICES = 20
MAX_ITEMS = 20
# Worrying choices (highlighted for supervisors) where an item names none: the seed template's.
DEFAULT_WORRYING: dict[str, tuple[str, ...]] = {
    "本人": ("重傷",),
    "家族": ("一部負傷", "不明"),
    "家屋": ("一部倒壊", "全壊"),
    "出社": ("不可能",),
}


@dataclass(frozen=True)
class CheckItem:
    """One question of the answer form: a label, its ordered choices, whether it is required."""

    label: str
    choices: tuple[str, ...]
    required: bool = True
    # Choices a supervisor should see highlighted; None: the default for this label.
    worrying: tuple[str, ...] | None = None
    # English for readers of English ("" or missing: the Japanese is shown). Answers always
    # store the Japanese `label` and choice, so a tally counts one choice once.
    label_en: str = ""
    choices_en: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The stored (and API) shape: `{"label", "required", "choices"[, "worrying"]}`."""
        shape: dict[str, Any] = {
            "label": self.label,
            "required": self.required,
            "choices": list(self.choices),
        }
        if self.worrying is not None:
            shape["worrying"] = list(self.worrying)
        if self.label_en:
            shape["label_en"] = self.label_en
        if any(self.choices_en):
            shape["choices_en"] = list(self.choices_en)
        return shape

    @property
    def worrying_choices(self) -> tuple[str, ...]:
        """The choices to highlight: the item's own, else the seed default for its label."""
        if self.worrying is not None:
            return self.worrying
        return tuple(c for c in DEFAULT_WORRYING.get(self.label, ()) if c in self.choices)

    def shown_label(self, language: str) -> str:
        """The label as a reader of `language` sees it."""
        return self.label_en if language == "en" and self.label_en else self.label

    def shown_choice(self, choice: str, language: str) -> str:
        """A (stored, Japanese) choice as a reader of `language` sees it."""
        if language != "en" or choice not in self.choices:
            return choice
        index = self.choices.index(choice)
        english = self.choices_en[index] if index < len(self.choices_en) else ""
        return english or choice

    def shown(self, language: str) -> dict[str, Any]:
        """The item for a form in `language`: the stored `label` and `choices` (what an
        answer sends back) with the `text` and `choice_texts` the reader sees."""
        return {
            "label": self.label,
            "required": self.required,
            "choices": list(self.choices),
            "text": self.shown_label(language),
            "choice_texts": [self.shown_choice(choice, language) for choice in self.choices],
        }


def parse_items(raw: Any) -> tuple[CheckItem, ...]:
    """Parse stored or submitted items; raise Invalid naming the first problem.

    No item at all makes a plain notice (緊急連絡) that recipients only confirm; labels and
    choices are non-empty, unique and short."""
    if not isinstance(raw, list):
        raise Invalid(_("確認項目の形式が正しくありません。"), code="invalid_items")
    if len(raw) > MAX_ITEMS:
        raise Invalid(_("確認項目は%(n)s個までです。", n=MAX_ITEMS), code="invalid_items")
    items: list[CheckItem] = []
    seen: set[str] = set()
    for position, entry in enumerate(raw, start=1):
        if not isinstance(entry, dict):
            raise Invalid(
                _("確認項目%(n)sの形式が正しくありません。", n=position), code="invalid_items"
            )
        label = _text(entry.get("label"), _label_of(position))
        if label in seen:
            raise Invalid(
                _("確認項目「%(label)s」が重複しています。", label=label), code="invalid_items"
            )
        seen.add(label)
        raw_choices = entry.get("choices")
        if not isinstance(raw_choices, list) or not raw_choices:
            raise Invalid(
                _("「%(label)s」に選択肢を1つ以上設定してください。", label=label),
                code="invalid_items",
            )
        if len(raw_choices) > MAX_CHOICES:
            raise Invalid(
                _("「%(label)s」の選択肢は%(n)s個までです。", label=label, n=MAX_CHOICES),
                code="invalid_items",
            )
        what = _choices_of(label)
        choices = tuple(_text(c, what) for c in raw_choices)
        if len(set(choices)) != len(choices):
            raise Invalid(
                _("「%(label)s」の選択肢が重複しています。", label=label), code="invalid_items"
            )
        required = entry.get("required", True)
        if not isinstance(required, bool):
            raise Invalid(
                _("「%(label)s」の必須指定が正しくありません。", label=label), code="invalid_items"
            )
        label_en, choices_en = _english(entry, label, choices)
        items.append(
            CheckItem(
                label, choices, required, _worrying(entry, label, choices), label_en, choices_en
            )
        )
    return tuple(items)


@functools.lru_cache(maxsize=1024)
def stored_items(text: str) -> tuple[CheckItem, ...]:
    """An alert's items as its row holds them (JSON text), parsed.

    Every answer reads its alert's items, which never change once the alert has started:
    each distinct text is parsed once (the items are frozen, safe to share)."""
    return parse_items(json.loads(text))


def items_to_json(items: Iterable[CheckItem]) -> list[dict[str, Any]]:
    """Items in their stored shape."""
    return [item.to_json() for item in items]


def _worrying(
    entry: dict[str, Any], label: str, choices: tuple[str, ...]
) -> tuple[str, ...] | None:
    if "worrying" not in entry:
        return None
    raw = entry["worrying"]
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise Invalid(
            _("「%(label)s」の要注意の選択肢が正しくありません。", label=label),
            code="invalid_items",
        )
    worrying = tuple(dict.fromkeys(c.strip() for c in raw))
    unknown = [c for c in worrying if c not in choices]
    if unknown:
        raise Invalid(
            _(
                "「%(label)s」の要注意の選択肢「%(choice)s」は選択肢にありません。",
                label=label,
                choice=unknown[0],
            ),
            code="invalid_items",
        )
    return worrying


def _english(
    entry: dict[str, Any], label: str, choices: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    """The item's optional English label and choices (one per choice, "" where none)."""
    label_en = entry.get("label_en") or ""
    raw = entry.get("choices_en") or []
    if not isinstance(label_en, str) or not isinstance(raw, list):
        raise Invalid(
            _("「%(label)s」の英語の形式が正しくありません。", label=label), code="invalid_items"
        )
    if len(raw) > len(choices) or not all(isinstance(c, str) for c in raw):
        raise Invalid(
            _("「%(label)s」の英語の選択肢が多すぎます。", label=label), code="invalid_items"
        )
    english = tuple(c.strip() for c in raw)
    if any(len(c) > MAX_LABEL_LENGTH for c in (label_en.strip(), *english)):
        raise Invalid(
            _(
                "「%(label)s」の英語は%(n)s文字以内にしてください。",
                label=label,
                n=MAX_LABEL_LENGTH,
            ),
            code="invalid_items",
        )
    return label_en.strip(), english


def _label_of(position: int) -> Callable[[], str]:
    return lambda: _("確認項目%(n)sの名前", n=position)


def _choices_of(label: str) -> Callable[[], str]:
    return lambda: _("「%(label)s」の選択肢", label=label)


def _text(value: Any, what: Callable[[], str]) -> str:
    """A label or choice, stripped; `what` names it in a refusal (translated only then: an
    alert's items are parsed on every answer)."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(_("%(what)sを入力してください。", what=what()), code="invalid_items")
    value = value.strip()
    if len(value) > MAX_LABEL_LENGTH:
        raise Invalid(
            _("%(what)sは%(n)s文字以内にしてください。", what=what(), n=MAX_LABEL_LENGTH),
            code="invalid_items",
        )
    return value
