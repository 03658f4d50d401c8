"""The committed rich menu images fit the spec and LINE's rules, and can be drawn again."""

from __future__ import annotations

import pytest
from PIL import Image

from bot import richmenu_art
from bot.richmenu_spec import LINKED, LINKED_EN, MENUS, UNLINKED, UNLINKED_EN
from line_simulator.validation import validate_request

ONE_MB = 1024 * 1024


def font_or_skip():
    try:
        return richmenu_art.find_font()
    except richmenu_art.FontMissing as exc:
        pytest.skip(f"cannot redraw the rich menus here: {exc}")


@pytest.mark.parametrize("spec", MENUS, ids=lambda s: s.kind)
def test_the_committed_image_has_the_menus_size_and_is_well_under_1mb(spec):
    with Image.open(spec.image_path) as image:
        assert image.format == "PNG"
        assert image.size == (spec.width, spec.height)
    assert spec.image_path.stat().st_size < ONE_MB // 4


@pytest.mark.parametrize("spec", MENUS, ids=lambda s: s.kind)
def test_the_spec_is_a_menu_line_accepts_whose_areas_tile_the_image(spec):
    assert validate_request("richmenu", spec.request_json(f"anpi-{spec.kind}-0123456789ab")) == []
    assert 800 <= spec.width <= 2500 and spec.width / spec.height >= 1.45
    covered = sum(a.bounds.width * a.bounds.height for a in spec.areas)
    assert covered == spec.width * spec.height
    for area in spec.areas:
        b = area.bounds
        assert b.x + b.width <= spec.width and b.y + b.height <= spec.height


def test_the_areas_carry_the_postbacks_the_handlers_parse():
    def vocabulary(spec):
        return [(a.label, a.action["data"], a.action["displayText"]) for a in spec.areas]

    assert vocabulary(UNLINKED) == [
        ("LINE連携する", "action=link", "連携"),
        ("使い方", "action=help", "使い方"),
    ]
    assert vocabulary(LINKED) == [
        ("最新の安否確認に回答", "action=answer", "回答"),
        ("自分の回答", "action=my_answer", "自分の回答"),
        ("連携情報", "action=link_info", "連携情報"),
        ("掲示板", "action=board", "掲示板"),
        ("使い方", "action=help", "使い方"),
    ]
    assert (UNLINKED.width, UNLINKED.height, LINKED.width, LINKED.height) == (2500, 843, 2500, 1686)


@pytest.mark.parametrize(("japanese", "english"), [(UNLINKED, UNLINKED_EN), (LINKED, LINKED_EN)])
def test_the_english_menu_offers_what_the_japanese_one_does_in_the_same_places(japanese, english):
    def places(spec):
        return [(a.bounds, a.icon, a.action["data"], a.primary) for a in spec.areas]

    assert places(english) == places(japanese)
    assert (english.width, english.height) == (japanese.width, japanese.height)


def test_redrawing_the_images_gives_the_same_sizes(tmp_path):
    font = font_or_skip()

    assert richmenu_art.main(["--out", str(tmp_path), "--font", str(font)]) == 0

    for spec in MENUS:
        path = tmp_path / f"{spec.kind}.png"
        with Image.open(path) as image:
            assert image.size == (spec.width, spec.height)
            assert image.mode == "P"  # a palette keeps it small
        assert path.stat().st_size < ONE_MB // 4


def test_a_missing_font_is_named_with_the_package_to_install(tmp_path, capsys):
    code = richmenu_art.main(["--out", str(tmp_path), "--font", str(tmp_path / "none.ttc")])

    assert code == 2
    assert "apt-get install fonts-noto-cjk" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_wheel_ships_the_committed_images():
    import tomllib
    from pathlib import Path

    setuptools = pytest.importorskip("setuptools")
    root = Path(__file__).resolve().parent.parent
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    find = tool["packages"]["find"]
    packages = setuptools.find_namespace_packages(
        root, include=find["include"], exclude=find["exclude"]
    )
    assert "bot.static.richmenu" in packages
    assert "*.png" in tool["package-data"]["*"]
