"""English for employees: the employee's language (their own choice, the import, or what LIFF
reports while they have none) drives the alert and reminder pushes, every chat reply, the
rich menu, the LIFF API and the employee page; answers store the Japanese choice, so the
tally counts a choice once whatever language it was given in. Through the real app, the local
LINE platform and both databases (the browser side: tests/test_browser_english.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot import richmenus
from bot.keys import LINE
from domain import templates
from domain.actors import Actor
from domain.alerts import remind_unanswered, start_alert
from domain.answers import submit_answer
from domain.employees import export_csv, import_employees
from domain.tally import tally
from models import Answer, AnswerChannel, AuditEntry, Delivery, Employee, Template
from tests import me_helpers
from tests.conftest import make_company, quick_link, until
from tests.me_helpers import menu_seen
from tests.test_chat_menu import tap
from tests.test_reminders import flex_text

# Fixtures: the app with LINE Login on (the employee page), its phone, the synced menus.
bot, phone, menus = me_helpers.bot, me_helpers.phone, me_helpers.menus

SAFE = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
ENGLISH_ITEMS = (
    "Yourself: Safe, Minor injury, Serious injury\n"
    "Family: All safe, Some injured, Unknown\n"
    "\n"  # 家屋 stays Japanese
    "Work: Can come, Cannot come"  # 未定 stays Japanese
)


async def add_english(template_key: str = "earthquake") -> Template:
    """The seed template with English, saved as a maintainer saves it in the console."""
    template = await Template.get(key=template_key)
    draft = replace(
        templates.draft_of(template),
        title_en="[Earthquake] Safety check",
        message_en="A strong earthquake hit the Kanto region. Please report your status.",
        items_en_text=ENGLISH_ITEMS,
    )
    return await templates.update_template(template.id, draft, Actor.cli())


@pytest.fixture
async def company(bot):
    """E1 chose English, E2 Japanese, E3 has not chosen (Japanese until LIFF says)."""
    company = await make_company(
        {"総務部": [("E1", "Alex Smith"), ("E2", "山田 太郎"), ("E3", "佐藤 花子")]}
    )
    await Employee.filter(code="E1").update(language="en")
    await Employee.filter(code="E2").update(language="ja")
    await add_english()
    for employee in company.employees.values():
        await employee.refresh_from_db()
    return company


def flexes(sim, user_id: str) -> list[dict]:
    return [m for m in sim.messages_for(user_id) if m["type"] == "flex"]


async def linked_everyone(sim, company) -> dict[str, str]:
    return {code: await quick_link(sim, e) for code, e in company.employees.items()}


async def test_each_employee_gets_the_alert_push_in_their_language_one_batch_per_language(
    sim, bot, company
):
    users = await linked_everyone(sim, company)

    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await until(lambda: all(flexes(sim, u) for u in users.values()))

    english = flex_text(flexes(sim, users["E1"])[0])
    assert "[Drill] [Earthquake] Safety check" in english
    assert "A strong earthquake hit the Kanto region." in english
    assert "Safety confirmation (drill)" in english and "Message" in english
    assert "連絡メッセージ" not in english and "震度6強" not in english
    button = flexes(sim, users["E1"])[0]["contents"]["footer"]["contents"][0]["action"]
    assert button["label"] == "Answer" and f"alert={started.alert.id}" in button["uri"]
    for code in ("E2", "E3"):
        japanese = flex_text(flexes(sim, users[code])[0])
        assert "【訓練】【地震】安否確認" in japanese and "震度6強" in japanese
        assert "連絡メッセージ" in japanese and "Safety" not in japanese
    # Recipients were grouped by language: one multicast each, with that language's body.
    multicasts = [s for s in sim.sent if s.kind == "multicast" and s.status == 200]
    assert sorted(sorted(s.to) for s in multicasts) == sorted(
        [[users["E1"]], sorted([users["E2"], users["E3"]])]
    )
    rows = await Delivery.filter(alert_id=started.alert.id).order_by("employee_id")
    assert [r.language for r in rows] == ["en", "ja", "ja"]


async def test_a_reminder_reaches_an_english_employee_in_english(sim, bot, company):
    users = await linked_everyone(sim, company)
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=False)
    await until(lambda: all(flexes(sim, u) for u in users.values()))

    await remind_unanswered(Actor.cli(), started.alert.id, message="至急回答してください")
    await until(lambda: all(len(flexes(sim, u)) == 2 for u in users.values()))

    english = flexes(sim, users["E1"])[1]
    assert english["altText"].startswith("[Reminder] [Earthquake] Safety check")
    assert "[Reminder] Not answered yet" in flex_text(english)
    assert "Follow-up" in flex_text(english)
    assert "至急回答してください" in flex_text(english)  # the sender's words, as written
    japanese = flexes(sim, users["E2"])[1]
    assert japanese["altText"].startswith("【再通知】【地震】安否確認")


async def test_chat_replies_follow_the_employees_language_and_words_work_in_both(sim, bot, company):
    users = await linked_everyone(sim, company)

    for word in ("Help", "help", "使い方"):
        (reply,) = await tap(sim, users["E1"], "text", word)
        assert reply["text"].startswith("[How to answer]")
        assert '"Answer latest"' in reply["text"]
    (reply,) = await tap(sim, users["E2"], "text", "Help")
    assert reply["text"].startswith("【回答のしかた】")
    (reply,) = await tap(sim, users["E1"], "text", "Link info")
    assert reply["altText"] == "Link info: E1 Alex Smith"
    (reply,) = await tap(sim, users["E1"], "text", "what now?")
    assert reply["text"].startswith("A text reply in this chat is not a safety answer.")
    (reply,) = await tap(sim, users["E3"], "text", "what now?")
    assert reply["text"].startswith("トークへのテキスト返信は安否回答になりません。")


async def test_my_answer_shows_the_stored_choice_in_the_employees_language(sim, bot, company):
    users = await linked_everyone(sim, company)
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    for code in ("E1", "E2"):
        choices = SAFE | {"出社": "未定"}
        employee = company.employees[code]
        await submit_answer(started.alert.id, employee, choices, "", AnswerChannel.LIFF)

    english = flex_text((await tap(sim, users["E1"], "postback", "action=my_answer"))[0])
    assert "Yourself\nSafe" in english and "Family\nAll safe" in english
    assert "家屋\n被害なし" in english  # no English given for this item: Japanese
    assert "Work\n未定" in english  # nor for this choice
    japanese = flex_text((await tap(sim, users["E2"], "postback", "action=my_answer"))[0])
    assert "本人\n無事" in japanese and "Safe" not in japanese


async def liff_get(browser_session, bot, token: str, alert_id: int, language: str = ""):
    headers = {"Authorization": f"Bearer {token}", "X-Liff-Language": language}
    async with browser_session.get(
        bot.make_url(f"/liff/api/alerts/{alert_id}"), headers=headers
    ) as response:
        return response.status, await response.json()


async def liff_answer(browser_session, bot, token: str, alert_id: int, choices: dict):
    async with browser_session.post(
        bot.make_url(f"/liff/api/alerts/{alert_id}/answer"),
        headers={"Authorization": f"Bearer {token}"},
        json={"choices": choices, "message": ""},
    ) as response:
        return response.status, await response.json()


async def test_liff_shows_english_and_the_tally_counts_both_languages_as_one_choice(
    sim, bot, company, browser_session
):
    users = await linked_everyone(sim, company)
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert
    english_token = sim.issue_id_token(users["E1"])

    status, view = await liff_get(browser_session, bot, english_token, alert.id, "ja-JP")
    assert status == 200 and view["language"] == "en"  # their own choice wins over the phone
    assert view["alert"]["title"] == "[Drill] [Earthquake] Safety check"
    assert view["status"] == "Not answered" and view["alert"]["submit_label"] == "Answer"
    assert view["alert"]["items"][0] == {
        "label": "本人",
        "required": True,
        "choices": ["無事", "軽傷", "重傷"],
        "text": "Yourself",
        "choice_texts": ["Safe", "Minor injury", "Serious injury"],
    }
    status, answered = await liff_answer(browser_session, bot, english_token, alert.id, SAFE)
    assert status == 200 and answered["status"] == "Answered"
    assert answered["answer"]["shown_choices"]["本人"] == "Safe"
    status, _ = await liff_answer(
        browser_session, bot, sim.issue_id_token(users["E2"]), alert.id, SAFE
    )
    assert status == 200

    stored = await Answer.filter(alert_id=alert.id).values_list("choices", flat=True)
    assert list(stored) == [SAFE, SAFE]
    counts = (await tally(alert.id)).choice_counts
    assert counts["本人"] == {"無事": 2, "軽傷": 0, "重傷": 0}


async def test_the_language_liff_reports_becomes_an_unset_employees_language_once(
    sim, bot, company, browser_session
):
    users = await linked_everyone(sim, company)
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert
    unset = sim.issue_id_token(users["E3"])

    status, view = await liff_get(browser_session, bot, unset, alert.id, "en-US")
    assert status == 200 and view["language"] == "en"
    assert view["alert"]["title"] == "[Drill] [Earthquake] Safety check"
    assert (await Employee.get(code="E3")).language == "en"
    entry = await AuditEntry.get(action="language_reported")
    assert entry.target == f"employee:{company.employees['E3'].id}"
    # Stored once: a phone in another language later changes nothing.
    status, view = await liff_get(browser_session, bot, unset, alert.id, "ja")
    assert view["language"] == "en" and (await Employee.get(code="E3")).language == "en"
    # A language the employee chose is never replaced by the phone's.
    await liff_get(browser_session, bot, sim.issue_id_token(users["E2"]), alert.id, "en")
    assert (await Employee.get(code="E2")).language == "ja"
    assert await AuditEntry.filter(action="language_reported").count() == 1
    # Later pushes follow it.
    await until(lambda: flexes(sim, users["E3"]))
    await remind_unanswered(Actor.cli(), alert.id)
    await until(lambda: len(flexes(sim, users["E3"])) == 2)
    assert flexes(sim, users["E3"])[1]["altText"].startswith("[Reminder] [Drill]")


async def test_linking_gives_the_english_menu_and_a_language_change_relinks_it(
    sim, bot, company, menus, line, phone
):
    english = await line.linked_friend(company.employees["E1"])
    japanese = await line.linked_friend(company.employees["E2"])

    # The menu follows the completion message's reply.
    await until(lambda: menu_seen(sim, english) == menus["linked_en"])
    await until(lambda: menu_seen(sim, japanese) == menus["linked"])
    assert line.texts(english)[-1].startswith("Your LINE account is linked, Alex Smith.")
    assert line.texts(japanese)[-1].startswith("LINE連携が完了しました。")

    await phone.first_sign_in(company.employees["E2"])
    response = await phone.post("/me/language", {"language": "en"})
    assert response.status == 303
    assert menu_seen(sim, japanese) == menus["linked_en"]
    (reply,) = await tap(sim, japanese, "postback", "action=help")
    assert reply["text"].startswith("[How to answer]")

    (reply,) = await tap(sim, english, "postback", "action=unlink_confirm")
    assert reply["text"].startswith("The link with Alex Smith has been removed.")
    await until(lambda: menu_seen(sim, english) == menus["unlinked_en"])


async def test_a_full_sync_keeps_each_employee_on_the_linked_menu_of_their_language(
    sim, bot, company
):
    users = await linked_everyone(sim, company)

    report = await richmenus.sync(bot.app[LINE])

    ids = {m.kind: m.rich_menu_id for m in report.menus}
    assert set(ids) == {"unlinked", "linked", "unlinked_en", "linked_en"}
    assert menu_seen(sim, users["E1"]) == ids["linked_en"]
    assert menu_seen(sim, users["E2"]) == menu_seen(sim, users["E3"]) == ids["linked"]
    assert sim.richmenus.default_id == ids["unlinked"]


async def test_the_employee_page_speaks_the_employees_language(sim, bot, company, phone):
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert
    await submit_answer(alert.id, company.employees["E1"], SAFE, "", AnswerChannel.LIFF)
    await phone.first_sign_in(company.employees["E1"])

    status, html = await phone.get("/me/")
    assert status == 200 and '<html lang="en">' in html
    assert "Page of Alex Smith" in html and "Your answers to recent safety confirmations" in html
    assert "[Drill] [Earthquake] Safety check" in html and "<li>Yourself: Safe</li>" in html
    response = await phone.post("/me/language", {"language": "xx"})
    assert response.status == 200 and "Choose a language." in await response.text()
    await phone.post("/me/language", {"language": "ja"})
    status, html = await phone.get("/me/")
    assert "Alex Smithさんのページ" in html and "<li>本人: 無事</li>" in html


CSV = (
    "code,name,department,email,role,language\n"
    "E1,Alex Smith,総務部,,,\n"  # empty: the stored language stays
    "E2,山田 太郎,総務部,,,English\n"
    "E4,新人 一郎,総務部,,,ja\n"
)


async def test_the_import_sets_languages_and_the_export_reads_back_the_same(bot, company):
    await import_employees(CSV.encode(), actor=Actor.cli())

    languages = dict(await Employee.all().values_list("code", "language"))
    assert languages == {"E1": "en", "E2": "en", "E3": "", "E4": "ja"}
    exported = (await export_csv(actor=Actor.cli())).decode("utf-8-sig")
    header, *rows = exported.splitlines()
    assert header.endswith(",language")
    assert [row.rsplit(",", 1)[1] for row in rows] == ["en", "en", "", "ja"]
    again = await import_employees(exported.encode(), actor=Actor.cli())
    assert again.updated == 0 and again.new == 0
    assert dict(await Employee.all().values_list("code", "language")) == languages


async def test_an_unknown_language_in_the_import_is_named(bot, company):
    from domain.employees import ImportInvalid

    with pytest.raises(ImportInvalid) as refused:
        await import_employees(
            b"code,name,department,email,role,language\nE9,X,,,,fr\n", actor=Actor.cli()
        )
    assert [(e.line, e.column) for e in refused.value.errors] == [(2, "language")]


# The LINE profile's language, read when linking completes


async def english_phone_user(sim, name: str = "Hanako") -> str:
    """A LINE user whose profile says English, a friend of the account (greeted)."""
    user = sim.add_user(name, language="en")
    assert await sim.follow(user.user_id) == 200
    await until(lambda: sim.messages_for(user.user_id))
    return user.user_id


async def test_linking_in_chat_gives_an_unset_employee_the_line_profiles_language(
    sim, bot, company, menus, line
):
    user_id = await english_phone_user(sim)

    await line.link(user_id, company.employees["E3"])

    assert (await Employee.get(code="E3")).language == "en"
    assert line.texts(user_id)[-1].startswith("Your LINE account is linked, 佐藤 花子.")
    await until(lambda: menu_seen(sim, user_id) == menus["linked_en"])
    entry = await AuditEntry.get(action="language_reported")
    assert entry.target == f"employee:{company.employees['E3'].id}"


async def test_linking_in_chat_keeps_a_language_the_employee_chose(sim, bot, company, line):
    user_id = await english_phone_user(sim)

    await line.link(user_id, company.employees["E2"])

    assert (await Employee.get(code="E2")).language == "ja"
    assert line.texts(user_id)[-1].startswith("LINE連携が完了しました。")
    assert not await AuditEntry.exists(action="language_reported")


async def test_a_line_profile_without_a_language_leaves_the_employee_unset(sim, bot, company, line):
    user_id = await line.befriend("たろう")  # LINE gives no language before consent

    await line.link(user_id, company.employees["E3"])

    assert (await Employee.get(code="E3")).language == ""
    assert line.texts(user_id)[-1].startswith("LINE連携が完了しました。")


async def test_linking_from_the_employee_page_gives_an_unset_employee_the_profiles_language(
    sim, bot, company, menus, phone
):
    user_id = await english_phone_user(sim)
    await phone.first_sign_in(company.employees["E3"])

    status, location = await phone.link_line(user_id)

    assert status == 303 and location == "/me/line?done=linked"
    assert (await Employee.get(code="E3")).language == "en"
    await until(lambda: menu_seen(sim, user_id) == menus["linked_en"])
    status, html = await phone.get("/me/")
    assert 'lang="en"' in html


async def test_linking_from_the_employee_page_keeps_a_language_the_employee_chose(
    sim, bot, company, phone
):
    user_id = await english_phone_user(sim)
    await phone.first_sign_in(company.employees["E2"])

    status, _ = await phone.link_line(user_id)

    assert status == 303
    assert (await Employee.get(code="E2")).language == "ja"
