"""Every message the bot sends to LINE, built in one place (Japanese first, translated:
chat replies are built inside the employee's `speaking(language)`, deliveries are rendered
per language)."""

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from bot.board_messages import board_push
from domain import family
from domain.alerts import display_sender, shown_wording
from domain.answers import AlertView, OpenAlert
from domain.check_items import CheckItem
from domain.i18n import DEFAULT_LANGUAGE, current_language, speaking
from domain.i18n import gettext as _
from models import Alert, AlertRound, DeliveryKind, Employee, FamilyStatus
from web.timefmt import jst

# The words an employee may type, in Japanese (msgids: see `words()` for the translations).
LINK_WORD = "連携"
UNLINK_WORD = "連携解除"
ANSWER_WORD = "回答"
MY_ANSWER_WORD = "自分の回答"
LINK_INFO_WORD = "連携情報"
HELP_WORD = "使い方"
MAX_BUBBLES = 10  # a carousel holds at most 12
ACCENT = "#B71C1C"


def answer_button_label() -> str:
    """回答 in the current language."""
    return _("回答")


def confirm_button_label() -> str:
    """確認しました in the current language."""
    return _("確認しました")


def words() -> dict[str, str]:
    """The words an employee may type (連携, 連携解除, …) in the current language."""
    return {
        "link": _("連携"),
        "unlink": _("連携解除"),
        "answer": _("回答"),
        "my_answer": _("自分の回答"),
        "link_info": _("連携情報"),
        "help": _("使い方"),
    }


def text(body: str) -> dict[str, Any]:
    """A plain text message."""
    return {"type": "text", "text": body}


def greeting() -> list[dict[str, Any]]:
    """What a new friend is told: what this account is, and how to link."""
    return [
        text(
            _(
                "友だち追加ありがとうございます。安否確認・緊急連絡の公式アカウントです。\n"
                "災害時の安否確認はこのトークに届きます。\n\n"
                "はじめに社員情報との連携が必要です。「%(word)s」と送信するか、"
                "下のボタンから手続きしてください。",
                word=words()["link"],
            )
        ),
        link_prompt(),
    ]


def welcome_back() -> list[dict[str, Any]]:
    """A linked employee befriended the account again (e.g. after unblocking)."""
    return [text(_("おかえりなさい。安否確認・緊急連絡はこのトークに届きます。"))]


def link_prompt() -> dict[str, Any]:
    """A button that starts account linking."""
    return {
        "type": "template",
        "altText": _("LINE連携の手続き"),
        "template": {
            "type": "buttons",
            "text": _("社員情報とLINEを連携します"),
            "actions": [
                {
                    "type": "postback",
                    "label": _("LINE連携する"),
                    "data": "action=link",
                    "displayText": words()["link"],
                }
            ],
        },
    }


def link_button(link_url: str) -> list[dict[str, Any]]:
    """The button to our sign-in page that carries the link token."""
    return [
        {
            "type": "template",
            "altText": _("LINE連携の手続き: 社員番号と登録コードを入力してください"),
            "template": {
                "type": "buttons",
                "title": _("LINE ID連携"),
                "text": _("社員番号と登録コードを入力して連携します(10分以内)"),
                "actions": [{"type": "uri", "label": _("連携を開始する"), "uri": link_url}],
            },
        }
    ]


def link_done(employee_name: str) -> list[dict[str, Any]]:
    """The seed's STEP4: linking finished."""
    return [
        text(
            _(
                "LINE連携が完了しました。%(name)sさん、今後の安否確認・緊急連絡は"
                "このトークに届きます。\n\n"
                "下のメニューから最新の安否確認への回答や自分の回答の確認ができます。",
                name=employee_name,
            )
        )
    ]


def link_failed(reason: str) -> list[dict[str, Any]]:
    """Linking did not bind anything."""
    return [text(reason)]


def already_linked(employee_name: str) -> list[dict[str, Any]]:
    """Asked to link while already linked."""
    return [
        text(
            _(
                "すでに%(name)sさんとして連携済みです。\n"
                "別の社員として連携し直す場合は、先に「%(word)s」と送信してください。",
                name=employee_name,
                word=words()["unlink"],
            )
        )
    ]


def unlinked(employee_name: str | None) -> list[dict[str, Any]]:
    """The link was removed (or there was none)."""
    if employee_name is None:
        return [text(_("このLINEアカウントは連携されていません。"))]
    return [
        text(
            _(
                "%(name)sさんとの連携を解除しました。安否確認はLINEに届かなくなります。\n"
                "LINEのユーザーIDと表示名のほかは、このアカウントの情報を保持していません。\n"
                "再度連携するには「%(word)s」と送信してください。",
                name=employee_name,
                word=words()["link"],
            )
        )
    ]


def how_to_answer(linked: bool, latest_open: Alert | None, liff_url: str) -> list[dict[str, Any]]:
    """The seed's rule: a chat text is not an answer. Say so and show the button that does
    answer (the newest open alert's form), or the link button when not linked."""
    body = _(
        "トークへのテキスト返信は安否回答になりません。\n"
        "安否確認のメッセージにある「%(button)s」ボタンから回答画面を開いて回答してください。",
        button=answer_button_label(),
    )
    if not linked:
        return [text(body + "\n\n" + _("まだ社員情報と連携されていません。")), link_prompt()]
    if latest_open is None:
        return [text(body + "\n\n" + _("現在、回答が必要な安否確認はありません。"))]
    return [text(body), answer_button(latest_open, liff_url)]


def answer_button(alert: Alert, liff_url: str) -> dict[str, Any]:
    """A button that opens the answer form of one alert."""
    title = _title(alert)
    button = answer_button_label()
    return {
        "type": "template",
        "altText": f"{title}: {button}"[:400],
        "template": {
            "type": "buttons",
            "text": _clip(title, 160),
            "actions": [{"type": "uri", "label": button, "uri": alert_url(liff_url, alert.id)}],
        },
    }


def link_first() -> list[dict[str, Any]]:
    """An unlinked user asked for something only a linked employee has."""
    return [
        text(
            _(
                "この機能を使うには、社員情報とLINEの連携が必要です。\n"
                "下のボタンから連携の手続きをしてください。"
            )
        ),
        link_prompt(),
    ]


def usage(linked: bool) -> list[dict[str, Any]]:
    """使い方: how to answer, how to link, who to ask."""
    answer = _(
        "【回答のしかた】\n"
        "災害時などに安否確認のメッセージが届きます。メッセージの「%(button)s」ボタンを押し、"
        "回答画面で各項目を選んで「%(button)s」を押してください。回答は何度でも修正できます。"
        "確認項目のない緊急連絡は「%(confirm)s」を押すだけです。\n"
        "メニューの「最新の安否確認に回答」からも回答画面を開けます。"
        "トークへの文字の返信は回答になりません。",
        button=answer_button_label(),
        confirm=confirm_button_label(),
    )
    link = _(
        "【LINE連携のしかた】\n"
        "総務部などの担当者から受け取った社員番号と登録コードを用意し、"
        "メニューの「LINE連携する」(または「連携」と送信)から手続きしてください。"
    )
    if linked:
        link = _(
            "【連携の確認・解除】\n"
            "メニューの「連携情報」で連携中の社員情報を確認できます。"
            "機種変更などで連携を解除するときは「連携情報」の「連携解除」から手続きしてください。"
        )
    ask = _(
        "【お問い合わせ】\n"
        "登録コードの再発行や使い方のご質問は、社内の安否確認担当者(総務部など)に"
        "お問い合わせください。"
    )
    return [text(f"{answer}\n\n{link}\n\n{ask}")]


def _note(body: str) -> dict[str, Any]:
    return {"type": "text", "text": body, "wrap": True, "size": "sm"}


def _title(alert: Alert) -> str:
    """The alert's title (with the drill marking) in the current language."""
    return shown_wording(alert, current_language())[0]


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _status_row(label: str, value: str, color: str = "#333333") -> dict[str, Any]:
    return {
        "type": "box",
        "layout": "baseline",
        "spacing": "sm",
        "contents": [
            {"type": "text", "text": label, "size": "xs", "color": "#595959", "flex": 2},
            {"type": "text", "text": value or "-", "size": "sm", "wrap": True, "flex": 5,
             "color": color},
        ],
    }  # fmt: skip


def _alert_bubble(item: OpenAlert, liff_url: str) -> dict[str, Any]:
    alert = item.alert
    state, color = (_("回答済"), "#2E7D32") if item.answered else (_("未回答"), ACCENT)
    return {
        "type": "bubble",
        "size": "kilo",
        "body": {
            "type": "box",
            "layout": "vertical",
            "spacing": "md",
            "contents": [
                _status_row(_("開始日時"), jst(alert.started_at)),
                _status_row(_("タイトル"), _clip(_title(alert), 200)),
                _status_row(_("確認状態"), state, color),
            ],
        },
        "footer": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "button",
                    "style": "primary" if not item.answered else "secondary",
                    "color": ACCENT if not item.answered else "#DDDDDD",
                    "action": {
                        "type": "uri",
                        "label": answer_button_label(),
                        "uri": alert_url(liff_url, alert.id),
                    },
                }
            ],
        },
    }


def open_alerts(alerts: list[OpenAlert], liff_url: str) -> list[dict[str, Any]]:
    """最新の安否確認に回答: the open alerts addressed to the employee, newest first."""
    if not alerts:
        return [text(_("現在、回答が必要な安否確認はありません。"))]
    shown = alerts[:MAX_BUBBLES]
    unanswered = sum(1 for a in shown if not a.answered)
    alt = _(
        "回答が必要な安否確認: %(count)s件(未回答 %(unanswered)s件)",
        count=len(shown),
        unanswered=unanswered,
    )
    contents: dict[str, Any] = (
        _alert_bubble(shown[0], liff_url)
        if len(shown) == 1
        else {"type": "carousel", "contents": [_alert_bubble(a, liff_url) for a in shown]}
    )
    return [{"type": "flex", "altText": alt, "contents": contents}]


def _choice_rows(items: tuple[CheckItem, ...], choices: dict[str, str]) -> list[dict[str, Any]]:
    """Each item and the chosen choice, in the reader's language (answers store Japanese)."""
    language = current_language()
    return [
        _status_row(
            _clip(item.shown_label(language), 40),
            item.shown_choice(choices[item.label], language)
            if item.label in choices
            else _("(未選択)"),
        )
        for item in items
    ]


def my_answer(view: AlertView | None, liff_url: str) -> list[dict[str, Any]]:
    """自分の回答: the employee's current answer to the latest alert addressed to them."""
    if view is None:
        return [text(_("これまでに届いた安否確認はありません。"))]
    alert, answer = view.alert, view.answer
    title = _clip(_title(alert), 200)
    rows: list[dict[str, Any]] = [
        {"type": "text", "text": title, "weight": "bold", "wrap": True},
        _status_row(_("開始日時"), jst(alert.started_at)),
    ]
    if answer is None:
        rows.append(_status_row(_("確認状態"), _("未回答"), ACCENT))
        alt = f"{title}: " + _("未回答")
    else:
        rows.append(_status_row(_("回答日時"), jst(answer.answered_at)))
        if view.confirm_only:
            rows.append(_status_row(_("確認状態"), confirm_button_label()))
        rows.extend(_choice_rows(view.items, answer.choices or {}))
        rows.append(_status_row(_("メッセージ"), _clip(answer.message, 500)))
        alt = f"{title}: " + _("あなたの回答")
    if alert.is_closed:
        rows.append(_status_row(_("状態"), _("この安否確認は終了しました")))
    bubble: dict[str, Any] = {
        "type": "bubble",
        "header": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {"type": "text", "text": _("自分の回答"), "weight": "bold", "color": ACCENT}
            ],
        },
        "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": rows},
    }
    if not alert.is_closed and not (view.confirm_only and answer is not None):
        label = answer_button_label() if answer is None else _("回答を修正する")
        bubble["footer"] = {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "button",
                    "style": "primary",
                    "color": ACCENT,
                    "action": {"type": "uri", "label": label, "uri": alert_url(liff_url, alert.id)},
                }
            ],
        }
    return [{"type": "flex", "altText": alt[:1500], "contents": bubble}]


def link_info(employee: Employee, department_name: str | None) -> list[dict[str, Any]]:
    """連携情報: the employee record this LINE account is linked to, with 連携解除."""
    bubble = {
        "type": "bubble",
        "header": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {"type": "text", "text": _("連携情報"), "weight": "bold", "color": ACCENT}
            ],
        },
        "body": {
            "type": "box",
            "layout": "vertical",
            "spacing": "sm",
            "contents": [
                _note(_("このLINEアカウントは次の社員情報と連携しています。")),
                _status_row(_("社員番号"), employee.code),
                _status_row(_("氏名"), employee.name),
                _status_row(_("部署"), department_name or _("(所属なし)")),
            ],
        },
        "footer": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "button",
                    "style": "secondary",
                    "action": {
                        "type": "postback",
                        "label": _("連携解除"),
                        "data": "action=unlink",
                        "displayText": words()["unlink"],
                    },
                }
            ],
        },
    }
    alt = _("連携情報") + f": {employee.code} {employee.name}"
    return [{"type": "flex", "altText": alt[:1500], "contents": bubble}]


def unlink_confirm(employee_name: str) -> list[dict[str, Any]]:
    """The confirm step before unlinking."""
    return [
        {
            "type": "template",
            "altText": _("LINE連携を解除しますか?"),
            "template": {
                "type": "confirm",
                "text": _clip(
                    _(
                        "%(name)sさんとのLINE連携を解除しますか?"
                        "解除すると安否確認がLINEに届かなくなります。",
                        name=employee_name,
                    ),
                    240,
                ),
                "actions": [
                    {
                        "type": "postback",
                        "label": _("解除する"),
                        "data": "action=unlink_confirm",
                        "displayText": _("連携を解除する"),
                    },
                    {
                        "type": "postback",
                        "label": _("やめる"),
                        "data": "action=unlink_cancel",
                        "displayText": _("やめる"),
                    },
                ],
            },
        }
    ]


def unlink_cancelled() -> list[dict[str, Any]]:
    """The user chose not to unlink."""
    return [text(_("連携解除を取り消しました。連携はそのままです。"))]


def alert_url(liff_url: str, alert_id: int) -> str:
    """The link that opens the answer form for one alert."""
    return f"{liff_url}?{urlencode({'alert': alert_id})}"


def _row(label: str, value: str) -> dict[str, Any]:
    return {
        "type": "box",
        "layout": "vertical",
        "margin": "md",
        "contents": [
            {"type": "text", "text": f"■ {label}", "size": "xs", "color": "#595959"},
            {"type": "text", "text": value or "-", "wrap": True, "size": "sm"},
        ],
    }


def alert_message(
    *,
    alert_id: int,
    title: str,
    message: str,
    sender_name: str,
    started_at: datetime,
    drill: bool,
    liff_url: str,
    header: str = "",
    follow_up: str = "",
    reminder: bool = False,
) -> dict[str, Any]:
    """The alert as a Flex bubble in the current language: 開始日時, タイトル (`title` as
    shown, with its drill marking), 連絡者, 連絡メッセージ and the answer (a reminder adds its
    二次連絡 message). Built only from stored fields so a resumed send produces the identical
    body."""
    shown_title = title
    header = header or _("連絡確認 -安否-")
    rows = [
        _row(_("開始日時"), jst(started_at)),
        _row(_("タイトル"), shown_title),
        _row(_("連絡者"), display_sender(sender_name)),
        _row(_("連絡メッセージ"), message[:1500]),
    ]
    if follow_up:
        rows.append(_row(_("二次連絡"), follow_up[:1500]))
    bubble = {
        "type": "bubble",
        "header": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "text",
                    "text": header + (_("(訓練)") if drill else ""),
                    "weight": "bold",
                    "color": ACCENT,
                }
            ],
        },
        "body": {"type": "box", "layout": "vertical", "contents": rows},
        "footer": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "button",
                    "style": "primary",
                    "color": ACCENT,
                    "action": {
                        "type": "uri",
                        "label": answer_button_label(),
                        "uri": alert_url(liff_url, alert_id),
                    },
                }
            ],
        },
    }
    alt = f"{shown_title}: " + _("安否を回答してください")
    if reminder:
        alt = _("【再通知】") + alt
    return {"type": "flex", "altText": alt[:1500], "contents": bubble}


def _alert_delivery(alert: Alert, _round: AlertRound | None, liff_url: str) -> dict[str, Any]:
    title, message = shown_wording(alert, current_language())
    return alert_message(
        alert_id=alert.id,
        title=title,
        message=message,
        sender_name=alert.sender_name,
        started_at=alert.started_at,
        drill=alert.drill,
        liff_url=liff_url,
    )


def _reminder_delivery(alert: Alert, round_: AlertRound | None, liff_url: str) -> dict[str, Any]:
    assert round_ is not None, "a reminder delivery belongs to a round"
    title, message = shown_wording(alert, current_language())
    return alert_message(
        alert_id=alert.id,
        title=title,
        message=message,
        sender_name=round_.sender_name,
        started_at=alert.started_at,
        drill=alert.drill,
        liff_url=liff_url,
        header=_("【再通知】未回答の方へ"),
        follow_up=round_.message,
        reminder=True,
    )


def family_question(
    *, alert_id: int, title: str, message: str, started_at: datetime, drill: bool
) -> dict[str, Any]:
    """The family round: the alert's title (as shown, drill marked) and message, and three
    buttons (無事 / 負傷 / 不明) whose postback names the alert; the same body for every family
    member of one language (one multicast)."""
    shown_title = title
    buttons = [
        {
            "type": "button",
            "style": "primary" if status is FamilyStatus.SAFE else "secondary",
            "color": ACCENT if status is FamilyStatus.SAFE else "#EEEEEE",
            "margin": "sm",
            "action": {
                "type": "postback",
                "label": family.status_label(status),
                "data": family_postback(alert_id, status),
                "displayText": family.status_label(status),
            },
        }
        for status in family.STATUS_ORDER
    ]
    bubble = {
        "type": "bubble",
        "header": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "text",
                    "text": _("ご家族の安否確認") + (_("(訓練)") if drill else ""),
                    "weight": "bold",
                    "color": ACCENT,
                }
            ],
        },
        "body": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                _row(_("開始日時"), jst(started_at)),
                _row(_("タイトル"), shown_title),
                _row(_("連絡メッセージ"), message[:1000]),
                {
                    "type": "text",
                    "text": _("ご自身の状況を選んでください。"),
                    "wrap": True,
                    "margin": "lg",
                    "size": "sm",
                },
            ],
        },
        "footer": {"type": "box", "layout": "vertical", "contents": buttons},
    }
    alt = _("%(title)s: ご家族の安否を回答してください", title=shown_title)
    return {"type": "flex", "altText": alt[:1500], "contents": bubble}


def family_postback(alert_id: int, status: FamilyStatus) -> str:
    """The postback data of a family answer button."""
    return urlencode({"action": "family_answer", "alert": alert_id, "status": status.value})


def _family_delivery(alert: Alert, _round: AlertRound | None, _liff_url: str) -> dict[str, Any]:
    title, message = shown_wording(alert, current_language())
    return family_question(
        alert_id=alert.id,
        title=title,
        message=message,
        started_at=alert.started_at,
        drill=alert.drill,
    )


def family_answered(status: FamilyStatus) -> list[dict[str, Any]]:
    """The reply to a family member's answer."""
    return [
        text(
            _(
                "「%(status)s」で回答しました。ありがとうございます。"
                "伝えたいことがあれば、このトークにメッセージを送ってください(回答に添えます)。"
                "変更するときは、もう一度ボタンを押してください。",
                status=family.status_label(status),
            )
        )
    ]


def family_message_added(status: FamilyStatus) -> list[dict[str, Any]]:
    """The reply to a family member's message, added to their answer."""
    return [
        text(
            _(
                "メッセージを回答(%(status)s)に添えました。送り直すと、新しいメッセージに置き換わります。",
                status=family.status_label(status),
            )
        )
    ]


def family_greeting(relation: str) -> list[dict[str, Any]]:
    """What a family member who adds the account or chats is told: they are registered as
    an employee's family (their relation only; nothing of the employee)."""
    return [
        text(
            _(
                "このLINEは、社員のご家族(%(relation)s)として安否確認に登録されています。"
                "安否確認のときは、このトークに質問が届きます。"
                "「無事」「負傷」「不明」のボタンで状況を選び、伝えたいことがあれば続けてメッセージを送ってください。"
                "ご家族の方は、社員向けの連携やメニューを使う必要はありません。",
                relation=relation,
            )
        )
    ]


def family_linked(relation: str) -> list[dict[str, Any]]:
    """The reply to a family member whose code linked their LINE."""
    return [
        text(
            _(
                "ご家族(%(relation)s)としてLINEを登録しました。安否確認のときは、このトークに質問が届きます。",
                relation=relation,
            )
        )
    ]


def family_refused(message: str) -> list[dict[str, Any]]:
    """A family code or answer that could not be accepted, with the reason."""
    return [text(message)]


# What each kind of delivery says: the one map the delivery engine renders through.
BUILDERS: dict[DeliveryKind, Callable[[Alert, AlertRound | None, str], dict[str, Any]]] = {
    DeliveryKind.ALERT: _alert_delivery,
    DeliveryKind.REMINDER: _reminder_delivery,
    DeliveryKind.FAMILY: _family_delivery,
    DeliveryKind.BOARD: board_push,
}


def delivery_message(
    alert: Alert,
    kind: DeliveryKind,
    round_: AlertRound | None,
    language: str = DEFAULT_LANGUAGE,
    *,
    liff_url: str,
) -> dict[str, Any]:
    """The message one batch of deliveries carries, chosen by its kind, in its language."""
    with speaking(language):
        return BUILDERS[kind](alert, round_, liff_url)


def login_link_done(employee_name: str) -> list[dict[str, Any]]:
    """STEP4 after LINE ID連携 on the employee page: the same words as linking in chat."""
    return link_done(employee_name)
