"""The console's 気象庁連携 pages: a maintainer adds and deletes rules, the "test this rule"
button runs an uploaded bulletin through a rule and shows whom it would reach without
sending, events show the alert and the bulletin that started it, and offices get their
prefecture."""

from __future__ import annotations

import aiohttp

from domain.actors import Actor
from domain.alerts import start_alert
from domain.jma import events, rules
from models import Alert, AuditEntry, Department, JmaEvent, JmaRule, Template
from tests.conftest import make_console_user
from tests.jma_helpers import (  # noqa: F401  (fixtures: `bot` here has its JMA worker on the local feed)
    IWATE_SHINGEN,
    IWATE_SOKUHOU,
    arrange_offices,
    bot,
    feed,
    sample,
)

RULE_FORM = {
    "name": "岩手の事業所",
    "kind": "quake",
    "min_intensity": "4",
    "areas": "岩手県\n宮城県",
    "template": "earthquake",
    "offices_only": "on",
    "suppress_minutes": "720",
    "delay_minutes": "0",
}


async def maintainer(console) -> None:
    await make_console_user("admin", "maintainer")
    assert (await console.sign_in("admin")).status == 303


async def test_a_maintainer_adds_a_rule_and_sees_it_listed(sim, console):
    await maintainer(console)

    response = await console.post("/console/jma/rules", RULE_FORM)

    assert response.status == 303
    _, html = await console.get("/console/jma?done=added")
    assert "ルールを追加しました。" in html
    assert "震度4以上: 岩手県、宮城県" in html and "該当都道府県の事業所" in html
    rule = await JmaRule.get()
    assert (rule.min_intensity, rule.areas, rule.offices_only) == ("4", ["岩手県", "宮城県"], True)
    row = await AuditEntry.get(action="jma_rule_add")
    assert (row.via, row.actor) == ("console", "admin")


async def test_a_maintainer_edits_a_rule_and_can_pause_it(sim, console):
    await maintainer(console)
    await console.post("/console/jma/rules", RULE_FORM)
    rule = await JmaRule.get()
    status, html = await console.get(f"/console/jma/rules/{rule.id}/edit")
    assert status == 200 and "岩手県\n宮城県</textarea>" in html

    form = {**RULE_FORM, "min_intensity": "5+", "areas": "石川県", "suppress_minutes": "60"}
    response = await console.post(f"/console/jma/rules/{rule.id}", form)  # `active` unticked

    assert response.status == 303
    rule = await JmaRule.get()
    assert (rule.min_intensity, rule.areas, rule.suppress_minutes) == ("5+", ["石川県"], 60)
    assert not rule.active
    _, html = await console.get("/console/jma?done=saved_rule")
    assert "ルールを保存しました。" in html and "停止中" in html
    row = await AuditEntry.get(action="jma_rule_edit")
    assert (row.via, row.actor, row.target) == ("console", "admin", "岩手の事業所")


async def test_a_bad_rule_is_shown_again_with_what_is_wrong(sim, console):
    await maintainer(console)

    response = await console.post("/console/jma/rules", {**RULE_FORM, "areas": ""})

    assert response.status == 400
    assert not await JmaRule.exists()


async def test_the_test_button_shows_whom_a_bulletin_would_reach_and_sends_nothing(sim, console):
    await arrange_offices(sim)
    await maintainer(console)
    await console.post("/console/jma/rules", RULE_FORM)
    rule = await JmaRule.get()
    form = aiohttp.FormData()
    form.add_field("csrf_token", await console.csrf())
    form.add_field("file", sample(IWATE_SHINGEN), filename="vxse53.xml")

    async with console.session.post(
        console.url(f"/console/jma/rules/{rule.id}/test"), data=form
    ) as response:
        html = await response.text()

    assert response.status == 200
    assert "ルール「岩手の事業所」のテスト(vxse53.xml)" in html
    assert "発信します" in html and "対象 2名" in html
    assert "E1 岩手太郎" in html and "E2 盛岡次郎" in html and "大阪花子" not in html
    assert not await Alert.exists()
    assert not [r for r in sim.sent if r.kind == "multicast"]


async def test_events_show_the_alert_and_the_bulletin_that_started_it(sim, console):
    await arrange_offices(sim)
    await maintainer(console)
    await console.post("/console/jma/rules", RULE_FORM)
    await events.handle_bulletin(sample(IWATE_SOKUHOU))

    status, html = await console.get("/console/jma")

    assert status == 200
    assert 'href="/console/alerts/1"' in html and "発信済み" in html
    assert "震度速報 2021/02/19 18:12 発表(電文 1)" in html


async def test_the_alert_page_shows_which_bulletin_started_it(sim, console):
    await arrange_offices(sim)
    await maintainer(console)
    await console.post("/console/jma/rules", RULE_FORM)
    await events.handle_bulletin(sample(IWATE_SOKUHOU))
    event = await JmaEvent.get()

    status, html = await console.get("/console/alerts/1")

    assert status == 200
    assert "自動発信: 気象庁 震度速報 2021/02/19 18:12 発表(電文 1)" in html
    assert "最大震度: 4" in html and "(ルール「岩手の事業所」)" in html
    assert f'href="/console/jma#jma-event-{event.id}"' in html
    _, jma_page = await console.get("/console/jma")
    assert f'id="jma-event-{event.id}"' in jma_page


async def test_a_supervisor_sees_the_trigger_without_the_maintainers_link(sim, console):
    await arrange_offices(sim)
    draft = rules.RuleDraft(name="岩手震度4", min_intensity="4", areas=("岩手県",))
    await rules.add_rule(Actor.cli(), draft)
    await events.handle_bulletin(sample(IWATE_SOKUHOU))
    await make_console_user("boss", "supervisor", [await Department.get(name="盛岡支店")])
    await console.sign_in("boss")

    status, html = await console.get("/console/alerts/1")

    assert status == 200 and "自動発信: 気象庁 震度速報" in html
    assert "/console/jma#" not in html


async def test_an_alert_a_person_started_names_no_bulletin(sim, console):
    await arrange_offices(sim)
    await maintainer(console)
    template = await Template.get(key="earthquake")
    await start_alert(Actor.cli(), template, drill=True, sender_name="総務部")

    status, html = await console.get("/console/alerts/1")

    assert status == 200 and "自動発信" not in html


async def test_a_supervisor_cannot_open_the_jma_pages(sim, console):
    await arrange_offices(sim)
    await make_console_user("boss", "supervisor", [await Department.get(name="本社")])
    await console.sign_in("boss")

    status, _ = await console.get("/console/jma")

    assert status == 403


async def test_a_maintainer_sets_an_office_prefecture(sim, console):
    await arrange_offices(sim)
    await maintainer(console)
    sales = await Department.get(name="営業課")

    response = await console.post(f"/console/jma/offices/{sales.id}", {"prefecture": "04"})

    assert response.status == 303
    assert (await Department.get(id=sales.id)).prefecture == "04"
    _, html = await console.get("/console/jma/offices")
    assert "盛岡支店/営業課" in html and '<option value="04" selected>宮城県</option>' in html
