"""Check items (確認項目) are parsed and validated in one place."""

from __future__ import annotations

import pytest

from domain.check_items import CheckItem, items_to_json, parse_items
from domain.errors import Invalid
from models.alert_templates import DEFAULT_TEMPLATE


def test_the_seed_template_parses_into_typed_items():
    items = parse_items(DEFAULT_TEMPLATE["items"])
    assert [i.label for i in items] == ["本人", "家族", "家屋", "出社"]
    assert items[0] == CheckItem("本人", ("無事", "軽傷", "重傷"), True)
    assert items_to_json(items) == DEFAULT_TEMPLATE["items"]


def test_required_defaults_to_true_and_labels_are_trimmed():
    (item,) = parse_items([{"label": " 本人 ", "choices": ["無事"]}])
    assert item == CheckItem("本人", ("無事",), True)


def test_no_items_make_a_plain_notice():
    assert parse_items([]) == ()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("本人", "形式が正しくありません"),
        (["本人"], "形式が正しくありません"),
        ([{"label": "", "choices": ["無事"]}], "名前を入力"),
        ([{"label": "本人", "choices": []}], "選択肢を1つ以上"),
        ([{"label": "本人", "choices": ["無事", " "]}], "選択肢を入力"),
        ([{"label": "本人", "choices": ["無事", "無事"]}], "選択肢が重複"),
        ([{"label": "本人", "choices": ["a"]}, {"label": "本人", "choices": ["b"]}], "重複"),
        ([{"label": "本人", "choices": ["a"], "required": "yes"}], "必須指定"),
        ([{"label": "x" * 51, "choices": ["a"]}], "50文字以内"),
        ([{"label": f"項目{i}", "choices": ["a"]} for i in range(21)], "20個まで"),
    ],
)
def test_bad_items_are_refused_with_a_reason(raw, says):
    with pytest.raises(Invalid, match=says):
        parse_items(raw)
