"""JMA bulletins parsed safely: what the real bulletins and JMA's samples say, and a one-line
refusal for what a parser must not read (malformed, billion laughs, external entities, 50 MB,
a type no rule acts on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import Invalid
from domain.jma.areas import (
    INTENSITIES,
    TsunamiLevel,
    coast_prefectures,
    intensity_label,
    intensity_rank,
    parse_intensity,
    prefecture_code,
)
from domain.jma.bulletin import BulletinKind, BulletinRefused, parse_bulletin
from domain.jma.feed import parse_feed

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "jma-samples"
if not SAMPLES.is_dir():  # a worktree beside main: /work/<tree>/tests -> /work/shared
    SAMPLES = Path("/work/shared/jma-samples")


def sample(name: str) -> bytes:
    """A bulletin from the shared samples (see their README for provenance)."""
    return (SAMPLES / name).read_bytes()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/">&lol3;</Report>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/">&x;</Report>"""
MALFORMED = b"<?xml version='1.0'?><Report xmlns='http://xml.kishou.go.jp/jmaxml1/'><Control>"


def test_a_real_shindo_sokuhou_gives_event_status_and_intensities():
    bulletin = parse_bulletin(sample("VXSE51_20210219_real_Iwate_max4.xml"))
    assert bulletin.kind is BulletinKind.INTENSITY
    assert (bulletin.status, bulletin.info_type) == ("通常", "発表")
    assert bulletin.event_ids == ("20210219181113",)
    assert bulletin.max_intensity == "4"
    assert [(p.name, p.code, p.max_intensity) for p in bulletin.prefectures] == [
        ("岩手県", "03", "4")
    ]
    assert [(a.name, a.code, a.prefecture) for a in bulletin.areas] == [
        ("岩手県内陸北部", "212", "03")
    ]
    assert bulletin.report_time.isoformat() == "2021-02-19T18:12:00+09:00"


def test_a_shingen_shindo_bulletin_gives_the_hypocentre_and_magnitude():
    bulletin = parse_bulletin(sample("VXSE53_20210219_real_Iwate_max4_3prefs.xml"))
    assert bulletin.kind is BulletinKind.QUAKE
    assert bulletin.serial == "1"
    assert (bulletin.hypocentre, bulletin.magnitude) == ("岩手県内陸北部", "M3.9")
    assert bulletin.coordinate == "+40.2+141.2-10000/"
    assert bulletin.origin_time.isoformat() == "2021-02-19T18:11:00+09:00"
    assert [(p.name, p.max_intensity) for p in bulletin.prefectures] == [
        ("岩手県", "4"),
        ("青森県", "2"),
        ("秋田県", "1"),
    ]


def test_the_great_tohoku_sample_has_intensity_7_across_41_prefectures():
    bulletin = parse_bulletin(sample("VXSE53_20110311_jmasample_Tohoku_max7_41prefs.xml"))
    assert bulletin.max_intensity == "7"
    assert len(bulletin.prefectures) == 41
    assert bulletin.magnitude == "M8を超える巨大地震"  # NaN with a condition


def test_training_and_cancel_are_read_as_such():
    training = parse_bulletin(
        sample("VTSE41_20160901_jmasample_TRAINING_major-tsunami-warning.xml")
    )
    assert training.status == "訓練"
    cancel = parse_bulletin(sample("VXSE51_20220510_jmasample_CANCEL.xml"))
    assert cancel.is_cancel and cancel.prefectures == () and cancel.event_ids == ("20220509152315",)


def test_tsunami_levels_per_coast():
    major = parse_bulletin(sample("VTSE41_20110311_jmasample_Tohoku_major-tsunami-warning.xml"))
    levels = {c.name: c.level for c in major.coasts}
    assert levels["宮城県"] is TsunamiLevel.MAJOR
    advisory = parse_bulletin(sample("VTSE41_20231009_real_tsunami-advisory.xml"))
    assert {c.name: c.level for c in advisory.coasts} == {
        "伊豆諸島": TsunamiLevel.ADVISORY,
        "小笠原諸島": TsunamiLevel.ADVISORY,
    }
    assert coast_prefectures("伊豆諸島") == ("13",)
    assert coast_prefectures("千葉県九十九里・外房") == ("12",)


def test_a_tsunami_bulletin_naming_two_events_keeps_both_ids():
    bulletin = parse_bulletin(sample("VTSE41_20151114_jmasample_two-EventIDs_forecast.xml"))
    assert bulletin.event_ids == ("20151114055157", "20151114061750")


def test_special_weather_warnings_are_found_only_where_issued():
    tokyo = parse_bulletin(sample("VPWW53_20170126_jmasample_Tokyo.xml"))
    assert tokyo.kind is BulletinKind.WEATHER
    assert {s.name for s in tokyo.specials} >= {"東京都", "23区西部", "新宿区"}
    assert all(s.prefecture == "13" and "大雨特別警報" in s.kinds for s in tokyo.specials)
    tokushima = parse_bulletin(sample("VPWW54_20210914_jmasample_Tokushima.xml"))
    assert tokushima.specials == ()


def test_intensity_classes_compare_in_jma_order():
    assert [parse_intensity(x) for x in ("5弱", "５強", "震度6弱", "6+", "7")] == [
        "5-",
        "5+",
        "6-",
        "6+",
        "7",
    ]
    assert sorted(["6-", "5+", "7", "4", "5-"], key=intensity_rank) == ["4", "5-", "5+", "6-", "7"]
    assert intensity_rank("4 ") == INTENSITIES.index("4")  # one sample writes `4 `
    assert intensity_rank("震度５弱以上未入電") == -1
    assert intensity_label("6+") == "6強"
    with pytest.raises(Invalid):
        parse_intensity("8")


def test_prefectures_by_name_or_code():
    assert prefecture_code("石川県") == "17" and prefecture_code("3") == "03"
    with pytest.raises(Invalid):
        prefecture_code("石川")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (BILLION_LAUGHS, "安全でないXML"),
        (EXTERNAL_ENTITY, "安全でないXML"),
        (MALFORMED, "XMLとして読めません"),
        (b"\x00\x01 not xml", "XMLとして読めません"),
        (b" " * (50 * 1024 * 1024), "大きすぎます"),
        (sample("VXSE52_20080614_jmasample_IwateMiyagi.xml"), "この種類の電文は扱いません"),
        (
            sample("VXSE42_20090811_jmasample_TEST-status_EEW-delivery-test.xml"),
            "この種類の電文は扱いません",
        ),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "Report"),
    ],
    ids=[
        "billion-laughs",
        "external-entity",
        "malformed",
        "binary",
        "50MB",
        "VXSE52",
        "VXSE42",
        "feed",
    ],
)
def test_what_cannot_be_read_is_refused_in_one_line(data, reason):
    with pytest.raises(BulletinRefused) as refused:
        parse_bulletin(data)
    assert reason in refused.value.message
    assert "\n" not in refused.value.message


def test_the_real_feed_lists_entries_with_their_type_codes():
    entries = parse_feed(sample("FEED_eqvol_20211124_real.xml"))
    assert len(entries) == 25
    quakes = [e for e in entries if e.type_code == "VXSE53"]
    assert len(quakes) == 2 and all(e.wanted for e in quakes)
    assert not any(e.wanted for e in entries if e.type_code == "VFVO53")


@pytest.mark.parametrize("code", ["VPWW53", "VPWW54", "VPWW55", "VPWW61"])
def test_weather_warning_types_old_and_new_are_wanted(code):
    feed = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>x</id>'
        b'<link href="http://example.invalid/data/20260601000000_0_'
        + code.encode()
        + b'_130000.xml"/></entry></feed>'
    )
    assert parse_feed(feed)[0].wanted


def test_a_feed_with_a_dtd_is_refused():
    with pytest.raises(BulletinRefused):
        parse_feed(BILLION_LAUGHS.replace(b"Report", b"feed"))
