"""The core loop over real HTTP: befriend, link, drill, answer in LIFF, tally."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from domain.actors import Actor
from domain.alerts import start_alert
from domain.tally import tally
from models import Answer, Delivery, DeliveryStatus, LineAccount, Template
from tests.conftest import make_company, until

# The one path that hashes and checks the registration code at the production Argon2 cost.
pytestmark = pytest.mark.real_argon2


async def test_employee_links_line_and_answers_a_drill_end_to_end(sim, bot, line):
    company = await make_company({"総務部": [("E001", "山田 太郎"), ("E002", "佐藤 花子")]})
    yamada = company.employees["E001"]

    # STEP3: befriend the official account; the bot greets and says how to link.
    user_id = await line.befriend("たろう")
    assert "連携" in line.texts(user_id)[0]
    account = await LineAccount.get(user_id=user_id)
    assert account.employee_id is None and account.display_name == ""

    # Link: chat → link page → sign in → LINE's dialog → accountLink → STEP4 message.
    await line.link(user_id, yamada)
    assert "LINE連携が完了しました" in line.texts(user_id)[-1]
    account = await LineAccount.get(user_id=user_id)
    assert account.employee_id == yamada.id
    assert account.display_name == "たろう"  # only the user ID and display name are kept

    # The drill goes out as a multicast with a retry key and the answer button.
    started = await start_alert(
        Actor.cli(), await Template.get(key="earthquake"), drill=True, sender_name="総務部 防災担当"
    )
    alert = started.alert
    await until(lambda: Delivery.exists(alert_id=alert.id, status=DeliveryStatus.SENT))
    multicasts = [s for s in sim.sent if s.kind == "multicast"]
    assert len(multicasts) == 1 and multicasts[0].to == [user_id]
    assert multicasts[0].retry_key and multicasts[0].status == 200
    delivery = await Delivery.get(alert_id=alert.id)
    assert delivery.status == DeliveryStatus.SENT and delivery.batch_key == multicasts[0].retry_key
    flex = sim.messages_for(user_id)[-1]
    button = flex["contents"]["footer"]["contents"][0]["action"]
    assert button["label"] == "回答"
    assert parse_qs(urlsplit(button["uri"]).query) == {"alert": [str(alert.id)]}

    # The employee taps 回答: the LIFF API with a token LINE signed.
    token = sim.issue_id_token(user_id)
    api = bot.make_url(f"/liff/api/alerts/{alert.id}")
    headers = {"Authorization": f"Bearer {token}"}
    async with line.session.get(api, headers=headers) as response:
        view = await response.json()
    assert response.status == 200
    assert view["status"] == "未回答"
    assert view["alert"]["title"] == "【訓練】【地震】安否確認"
    assert view["alert"]["sender"] == "【総務部 防災担当】"
    assert [i["label"] for i in view["alert"]["items"]] == ["本人", "家族", "家屋", "出社"]

    choices = {"本人": "無事", "家族": "全員無事", "家屋": "一部倒壊", "出社": "可能"}
    async with line.session.post(
        f"{api}/answer",
        headers=headers,
        json={"choices": choices, "message": "一時間後に家を出ます。"},
    ) as response:
        view = await response.json()
    assert response.status == 200, view
    assert view["status"] == "回答済"
    answer = await Answer.get(alert_id=alert.id, employee_id=yamada.id)
    assert answer.choices == choices and answer.message == "一時間後に家を出ます。"

    result = await tally(alert.id)
    assert (result.total, result.answered, result.unanswered) == (2, 1, 1)
    assert result.choice_counts["家屋"] == {"被害なし": 0, "一部倒壊": 1, "全壊": 0}
    assert [(d.name, d.answered, d.total) for d in result.departments] == [("総務部", 1, 2)]


async def test_background_engine_delivers_an_alert_without_being_asked(sim, bot, line):
    company = await make_company({"営業部": [("E010", "鈴木 一郎")]})
    user_id = await line.linked_friend(company.employees["E010"])
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=False)
    await until(lambda: any(m.get("type") == "flex" for m in sim.messages_for(user_id)))
    await until(lambda: Delivery.exists(alert_id=started.alert.id, status=DeliveryStatus.SENT))
