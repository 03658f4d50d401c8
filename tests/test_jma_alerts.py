"""What a JMA bulletin does, through the one path the poller and `jma replay` share
(`handle_bulletin`), in the real app with the local LINE platform: one alert per earthquake,
rules by intensity, coast and special warning, offices by prefecture, suppression with a
one-tap start, a delay admins may cancel, 訓練/試験/取消."""

# ruff: noqa: F811  (the `bot` and `feed` fixtures are imported, then named as parameters)

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.jma_watch import push_notices
from bot.keys import LINE
from domain.actors import Actor
from domain.jma import events, rules
from domain.jma.triggers import trigger_of
from models import Alert, AuditEntry, JmaEvent, JmaEventState, Template
from tests.conftest import until
from tests.jma_helpers import (  # noqa: F401  (fixtures)
    IWATE_CANCEL,
    IWATE_SHINGEN,
    IWATE_SOKUHOU,
    MIYAGI_SHINGEN,
    MIYAGI_SOKUHOU,
    admin_room,
    arrange_offices,
    bot,
    derived,
    feed,
    group_button,
    group_texts,
    sample,
    tap,
)


async def rule(name: str = "岩手震度4", **options) -> None:
    """Add a rule as a maintainer would (quake, 岩手県, 震度4 unless told otherwise)."""
    draft = {"min_intensity": "4", "areas": ("岩手県",), **options}
    await rules.add_rule(Actor.cli(), rules.RuleDraft(name=name, **draft))


async def tell_groups(server) -> None:
    """What the JMA worker does after each round: push the owed notices."""
    await push_notices(server.app[LINE])


def received(sim, user_id: str) -> list[str]:
    """The alerts a user got (their altTexts)."""
    return [m.get("altText", m.get("text", "")) for m in sim.messages_for(user_id)]


async def test_a_strong_quake_starts_one_alert_and_tells_the_admin_groups(sim, bot):
    users = await arrange_offices(sim)
    group = await admin_room(sim, users)
    await rule()

    outcome = await events.handle_bulletin(sample(IWATE_SOKUHOU))

    assert outcome.text.startswith("開始: 連絡 #1")
    for user_id in users.values():  # the rule targets everyone
        await until(lambda user_id=user_id: sim.messages_for(user_id))
    await tell_groups(bot)
    notice = group_texts(sim, group)[-1]
    assert "【地震 自動発信】" in notice and "連絡 #1 を開始しました" in notice
    assert "最大震度: 4" in notice and "ルール: 岩手震度4" in notice
    assert "発生: 2021/02/19 18:11" in notice or "発生: 2021/02/19 18:12" in notice
    assert "震度速報 2021/02/19 18:12 発表" in notice  # which bulletin started it
    assert "気象庁 震度速報" in (await trigger_of(1)).text
    row = await AuditEntry.get(action="jma_alert_started")
    assert (row.via, row.actor, row.result) == ("system", "system", "ok")


async def test_status_in_an_admin_group_names_the_bulletin_that_started_the_alert(sim, bot):
    users = await arrange_offices(sim)
    group = await admin_room(sim, users)
    await rule()
    await events.handle_bulletin(sample(IWATE_SOKUHOU))
    before = len(group_texts(sim, group))

    await sim.groups.text(group, users["岩手太郎"], "/status 1")

    await until(lambda: any("回答 " in t for t in group_texts(sim, group)[before:]))
    reply = next(t for t in group_texts(sim, group)[before:] if "回答 " in t)
    assert "自動発信: 気象庁 震度速報 2021/02/19 18:12 発表" in reply
    assert "(ルール「岩手震度4」)" in reply


async def test_later_bulletins_of_the_same_quake_never_start_a_second_alert(sim, bot):
    users = await arrange_offices(sim)
    group = await admin_room(sim, users)
    await rule()
    await events.handle_bulletin(sample(IWATE_SOKUHOU))

    later = await events.handle_bulletin(sample(IWATE_SHINGEN))
    again = await events.handle_bulletin(sample(IWATE_SHINGEN))  # a re-fetch

    assert later.text == "この地震はすでに対応済みです(連絡 #1)"
    assert again.text.startswith("既に処理済みの電文です")
    assert await Alert.all().count() == 1
    await tell_groups(bot)
    assert sum("開始しました" in t for t in group_texts(sim, group)) == 1
    follow_up = group_texts(sim, group)[-1]  # the epicentre the 震度速報 did not know yet
    assert follow_up.startswith("【続報】連絡 #1 の地震") and "岩手県内陸北部(M3.9)" in follow_up
    event = await JmaEvent.get()
    assert "震源: 岩手県内陸北部(M3.9)" in event.summary  # the later bulletin filled it in


async def test_bulletins_racing_for_one_quake_start_exactly_one_alert(sim, bot):
    await arrange_offices(sim)
    await rule()

    outcomes = await asyncio.gather(
        events.handle_bulletin(sample(IWATE_SOKUHOU)),
        events.handle_bulletin(sample(IWATE_SHINGEN)),
    )

    assert sum(o.text.startswith("開始") for o in outcomes) == 1
    assert await Alert.all().count() == 1


async def test_an_earthquake_and_its_tsunami_warning_are_one_alert(sim, bot):
    await arrange_offices(sim)
    await rule("宮城6弱", min_intensity="6-", areas=("宮城県",))
    await rule("宮城の津波", kind="tsunami", min_intensity="", areas=("宮城県",))

    quake = await events.handle_bulletin(sample("VXSE51_20110311_jmasample_Tohoku_max6plus.xml"))
    tsunami = await events.handle_bulletin(
        sample("VTSE41_20110311_jmasample_Tohoku_major-tsunami-warning.xml")
    )

    assert quake.text.startswith("開始: 連絡 #1")
    assert tsunami.text == "この地震はすでに対応済みです(連絡 #1)"
    assert await Alert.all().count() == 1


async def test_a_later_bulletin_raising_the_intensity_fires_the_rule_then(sim, bot):
    await arrange_offices(sim)
    await rule("岩手震度1", min_intensity="1")

    first = await events.handle_bulletin(sample(MIYAGI_SOKUHOU))  # 宮城・福島 only
    second = await events.handle_bulletin(sample(MIYAGI_SHINGEN))  # 岩手県 1 as well

    assert first.text == "無視: 条件を満たすルールなし、最大震度3"
    assert second.text.startswith("開始: 連絡 #1")


async def test_a_quake_below_the_rule_or_elsewhere_starts_nothing(sim, bot):
    await arrange_offices(sim)
    await rule("岩手震度5弱", min_intensity="5弱")
    await rule("大阪震度1", min_intensity="1", areas=("大阪府",))

    outcome = await events.handle_bulletin(sample(IWATE_SHINGEN))

    assert outcome.text.startswith("無視: 条件を満たすルールなし")
    assert not await Alert.exists()


async def test_offices_only_reaches_the_offices_in_the_prefectures_hit_and_below(sim, bot):
    users = await arrange_offices(sim)
    await rule(offices_only=True)

    outcome = await events.handle_bulletin(sample(IWATE_SOKUHOU))

    assert "対象 2名" in outcome.text
    await until(lambda: sim.messages_for(users["岩手太郎"]) and sim.messages_for(users["盛岡次郎"]))
    assert sim.messages_for(users["大阪花子"]) == [] and sim.messages_for(users["東京一郎"]) == []


async def test_offices_only_with_no_office_there_starts_nothing_and_says_so(sim, bot):
    users = await arrange_offices(sim)
    group = await admin_room(sim, users)
    await rule("宮城の事業所", min_intensity="3", areas=("宮城県",), offices_only=True)

    outcome = await events.handle_bulletin(sample(MIYAGI_SOKUHOU))

    assert outcome.text == "発信なし: ルール「宮城の事業所」の対象の事業所がありません"
    assert not await Alert.exists()
    await tell_groups(bot)
    assert "事業所(部署)がないため発信しません" in group_texts(sim, group)[-1]


async def test_an_aftershock_inside_the_window_is_suppressed_and_one_tap_starts_it(sim, bot):
    users = await arrange_offices(sim)
    group = await admin_room(sim, users)
    await rule("岩手震度1", min_intensity="1", suppress_minutes=720)
    await events.handle_bulletin(sample(IWATE_SOKUHOU))  # alert 1

    aftershock = await events.handle_bulletin(sample(MIYAGI_SHINGEN))  # another EventID

    assert aftershock.text.startswith("抑止: ルール「岩手震度1」の再通知抑止時間内です(連絡 #1")
    assert await Alert.all().count() == 1
    await tell_groups(bot)
    assert "再通知抑止時間(720分)内のため自動発信しません" in group_texts(sim, group)[-2]
    button = group_button(sim, group)
    assert button.startswith("jma=start&event=")

    refused = await tap(sim, group, users["大阪花子"], button)  # not a sender
    assert "権限がありません" in refused
    assert await Alert.all().count() == 1
    started = await tap(sim, group, users["岩手太郎"], button)
    assert started.startswith("連絡 #2 を開始しました")
    await until(lambda: "【手動発信(抑止解除)】" in group_texts(sim, group)[-1])  # every group
    again = await tap(sim, group, users["東京一郎"], button)
    assert again == "すでに連絡 #2 を開始しています。"
    assert await Alert.all().count() == 2
    rows = await AuditEntry.filter(action="jma_start_anyway").order_by("id")
    assert [(r.via, r.actor, r.result) for r in rows] == [
        ("group", "E3", "refused"),
        ("group", "E1", "ok"),
        ("group", "E4", "refused"),
    ]


async def test_a_window_of_zero_minutes_starts_every_quake(sim, bot):
    await arrange_offices(sim)
    await rule("岩手震度1", min_intensity="1", suppress_minutes=0)
    await events.handle_bulletin(sample(IWATE_SOKUHOU))

    second = await events.handle_bulletin(sample(MIYAGI_SHINGEN))

    assert second.text.startswith("開始: 連絡 #2")


async def test_a_delayed_alert_waits_and_admins_may_cancel_it(sim, bot):
    users = await arrange_offices(sim)
    group = await admin_room(sim, users)
    await rule(delay_minutes=5)

    outcome = await events.handle_bulletin(sample(IWATE_SOKUHOU))

    assert outcome.text.startswith("発信待ち: ルール「岩手震度4」")
    assert not await Alert.exists()
    await tell_groups(bot)
    assert "自動発信します" in group_texts(sim, group)[-2]
    reply = await tap(sim, group, users["岩手太郎"], group_button(sim, group))
    assert reply == "自動発信を取りやめました。"
    await JmaEvent.all().update(due_at=datetime.now(UTC) - timedelta(minutes=1))
    assert await events.start_due() == []
    assert not await Alert.exists()
    assert (await JmaEvent.get()).state is JmaEventState.CANCELLED


async def test_a_delayed_alert_nobody_cancelled_starts_when_due(sim, bot):
    users = await arrange_offices(sim)
    await rule(delay_minutes=5)
    await events.handle_bulletin(sample(IWATE_SOKUHOU))
    assert await events.start_due() == []  # not yet

    await JmaEvent.all().update(due_at=datetime.now(UTC) - timedelta(seconds=1))
    started = await events.start_due()

    assert [s.alert.id for s in started] == [1]
    await until(lambda: sim.messages_for(users["岩手太郎"]))


async def test_training_bulletins_never_start_a_real_alert(sim, bot):
    await arrange_offices(sim)
    await rule("茨城の津波", kind="tsunami", min_intensity="", areas=("茨城県",))

    outcome = await events.handle_bulletin(
        sample("VTSE41_20160901_jmasample_TRAINING_major-tsunami-warning.xml")
    )

    assert outcome.text.startswith("無視: 訓練電文")
    assert not await Alert.exists()


async def test_a_rule_that_opts_in_runs_training_bulletins_as_drills(sim, bot):
    users = await arrange_offices(sim)
    await rule("茨城の津波", kind="tsunami", min_intensity="", areas=("茨城県",), drills=True)

    outcome = await events.handle_bulletin(
        sample("VTSE41_20160901_jmasample_TRAINING_major-tsunami-warning.xml")
    )

    assert outcome.text.startswith("開始: 連絡 #1")
    alert = await Alert.get()
    assert alert.drill
    await until(lambda: sim.messages_for(users["大阪花子"]))
    assert received(sim, users["大阪花子"])[0].startswith("【訓練】")


async def test_a_test_status_bulletin_never_starts_anything(sim, bot):
    await arrange_offices(sim)
    await rule(drills=True)

    outcome = await events.handle_bulletin(
        derived(IWATE_SOKUHOU, ("<Status>通常</Status>", "<Status>試験</Status>"))
    )

    assert outcome.text.startswith("無視: 試験電文")
    assert not await Alert.exists()


async def test_a_cancel_tells_the_admin_groups_and_leaves_the_alert_open(sim, bot):
    users = await arrange_offices(sim)
    group = await admin_room(sim, users)
    await rule()
    await events.handle_bulletin(sample(IWATE_SOKUHOU))

    outcome = await events.handle_bulletin(IWATE_CANCEL)

    assert outcome.text == "取消: 連絡 #1 は開始済み(終了は人が判断)"
    alert = await Alert.get()
    assert alert.closed_at is None
    assert (await JmaEvent.get()).withdrawn_at is not None
    await tell_groups(bot)
    notice = group_texts(sim, group)[-1]
    assert notice.startswith("【取消】震度速報が取り消されました。")
    assert "連絡 #1 は開始済みです" in notice


async def test_a_cancel_stops_a_delayed_alert(sim, bot):
    await arrange_offices(sim)
    await rule(delay_minutes=5)
    await events.handle_bulletin(sample(IWATE_SOKUHOU))

    outcome = await events.handle_bulletin(IWATE_CANCEL)

    assert outcome.text == "取消: 発信待ちの連絡を取りやめました"
    await JmaEvent.all().update(due_at=datetime.now(UTC) - timedelta(minutes=1))
    assert await events.start_due() == []
    assert not await Alert.exists()


async def test_a_tsunami_warning_on_the_rule_coasts_starts_its_template(sim, bot):
    await arrange_offices(sim)
    tsunami = await Template.create(
        key="tsunami", title="【津波】安否確認", message="高台へ避難してください。",
        items=(await Template.get(key="earthquake")).items,
    )  # fmt: skip
    await rule(
        "宮城の津波", kind="tsunami", min_intensity="", areas=("宮城県",), template="tsunami"
    )

    outcome = await events.handle_bulletin(
        sample("VTSE41_20110311_jmasample_Tohoku_major-tsunami-warning.xml")
    )

    assert outcome.text.startswith("開始: 連絡 #1")
    assert (await Alert.get()).template_id == tsunami.id


async def test_a_tsunami_advisory_is_below_a_warning_rule(sim, bot):
    await arrange_offices(sim)
    await rule("東京の津波", kind="tsunami", min_intensity="", areas=("東京都",))

    outcome = await events.handle_bulletin(sample("VTSE41_20231009_real_tsunami-advisory.xml"))

    assert outcome.text.startswith("無視")
    assert not await Alert.exists()


async def test_a_special_weather_warning_in_the_rule_area_starts_an_alert(sim, bot):
    users = await arrange_offices(sim)
    await rule(
        "東京の特別警報", kind="weather", min_intensity="", areas=("東京都",), offices_only=True
    )

    outcome = await events.handle_bulletin(sample("VPWW53_20170126_jmasample_Tokyo.xml"))
    quiet = await events.handle_bulletin(sample("VPWW54_20210914_jmasample_Tokushima.xml"))

    assert outcome.text.startswith("開始: 連絡 #1(ルール「東京の特別警報」、対象 1名)")
    assert quiet.text == "無視: 特別警報の発表はありません"
    await until(lambda: sim.messages_for(users["東京一郎"]))
    assert sim.messages_for(users["岩手太郎"]) == []


async def test_a_refused_bulletin_starts_nothing(sim, bot):
    from domain.jma.bulletin import BulletinRefused

    await arrange_offices(sim)
    await rule()
    try:
        await events.handle_bulletin(sample("VXSE52_20080614_jmasample_IwateMiyagi.xml"))
    except BulletinRefused as exc:
        assert exc.message == "この種類の電文は扱いません(震源に関する情報)。"
    else:
        raise AssertionError("an unknown type was read")
    assert not await Alert.exists() and not await JmaEvent.exists()


async def test_a_paused_rule_starts_nothing(sim, bot):
    await arrange_offices(sim)
    await rule()
    paused = rules.RuleDraft(name="岩手震度4", min_intensity="4", areas=("岩手県",), active=False)
    await rules.update_rule(Actor.cli(), (await rules.find_rule("岩手震度4")).id, paused)

    outcome = await events.handle_bulletin(sample(IWATE_SOKUHOU))

    assert outcome.text.startswith("無視: 条件を満たすルールなし")
    assert not await Alert.exists()
