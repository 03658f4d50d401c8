"""Every message the bot sends to LINE, built in one place (Japanese first)."""

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from domain.alerts import display_sender, display_title
from models import Alert, AlertRound, DeliveryKind
from web.timefmt import jst

LINK_WORD = "連携"
UNLINK_WORD = "連携解除"


def text(body: str) -> dict[str, Any]:
    """A plain text message."""
    return {"type": "text", "text": body}


def greeting() -> list[dict[str, Any]]:
    """What a new friend is told: what this account is, and how to link."""
    return [
        text(
            "友だち追加ありがとうございます。安否確認・緊急連絡の公式アカウントです。\n"
            "災害時の安否確認はこのトークに届きます。\n\n"
            f"はじめに社員情報との連携が必要です。「{LINK_WORD}」と送信するか、"
            "下のボタンから手続きしてください。"
        ),
        link_prompt(),
    ]


def welcome_back() -> list[dict[str, Any]]:
    """A linked employee befriended the account again (e.g. after unblocking)."""
    return [text("おかえりなさい。安否確認・緊急連絡はこのトークに届きます。")]


def link_prompt() -> dict[str, Any]:
    """A button that starts account linking."""
    return {
        "type": "template",
        "altText": "LINE連携の手続き",
        "template": {
            "type": "buttons",
            "text": "社員情報とLINEを連携します",
            "actions": [
                {
                    "type": "postback",
                    "label": "LINE連携する",
                    "data": "action=link",
                    "displayText": LINK_WORD,
                }
            ],
        },
    }


def link_button(link_url: str) -> list[dict[str, Any]]:
    """The button to our sign-in page that carries the link token."""
    return [
        {
            "type": "template",
            "altText": "LINE連携の手続き: 社員番号と登録コードを入力してください",
            "template": {
                "type": "buttons",
                "title": "LINE ID連携",
                "text": "社員番号と登録コードを入力して連携します(10分以内)",
                "actions": [{"type": "uri", "label": "連携を開始する", "uri": link_url}],
            },
        }
    ]


def link_done(employee_name: str) -> list[dict[str, Any]]:
    """The seed's STEP4: linking finished."""
    return [
        text(
            f"LINE連携が完了しました。{employee_name}さん、今後の安否確認・緊急連絡は"
            "このトークに届きます。\n\n"
            f"連携を解除するには、いつでも「{UNLINK_WORD}」と送信してください。"
        )
    ]


def link_failed(reason: str) -> list[dict[str, Any]]:
    """Linking did not bind anything."""
    return [text(reason)]


def already_linked(employee_name: str) -> list[dict[str, Any]]:
    """Asked to link while already linked."""
    return [
        text(
            f"すでに{employee_name}さんとして連携済みです。\n"
            f"別の社員として連携し直す場合は、先に「{UNLINK_WORD}」と送信してください。"
        )
    ]


def unlinked(employee_name: str | None) -> list[dict[str, Any]]:
    """The link was removed (or there was none)."""
    if employee_name is None:
        return [text("このLINEアカウントは連携されていません。")]
    return [
        text(
            f"{employee_name}さんとの連携を解除しました。安否確認はLINEに届かなくなります。\n"
            f"再度連携するには「{LINK_WORD}」と送信してください。"
        )
    ]


def how_to_answer(linked: bool) -> list[dict[str, Any]]:
    """A chat text is not an answer: say how to answer instead."""
    body = (
        "トークへのテキスト返信は安否回答になりません。\n"
        "安否確認のメッセージにある「回答する」ボタンから回答画面を開いて回答してください。"
    )
    if not linked:
        body += f"\n\nまだ社員情報と連携されていません。「{LINK_WORD}」と送信して連携してください。"
    return [text(body)]


def alert_url(liff_url: str, alert_id: int) -> str:
    """The link that opens the answer form for one alert."""
    return f"{liff_url}?{urlencode({'alert': alert_id})}"


def _row(label: str, value: str) -> dict[str, Any]:
    return {
        "type": "box",
        "layout": "vertical",
        "margin": "md",
        "contents": [
            {"type": "text", "text": f"■ {label}", "size": "xs", "color": "#888888"},
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
    header: str = "連絡確認 -安否-",
    follow_up: str = "",
) -> dict[str, Any]:
    """The alert as a Flex bubble: 開始日時, タイトル, 連絡者, 連絡メッセージ and 回答する
    (a reminder adds its 二次連絡 message). Built only from stored fields so a resumed send
    produces the identical body."""
    shown_title = display_title(title, drill)
    rows = [
        _row("開始日時", jst(started_at)),
        _row("タイトル", shown_title),
        _row("連絡者", display_sender(sender_name)),
        _row("連絡メッセージ", message[:1500]),
    ]
    if follow_up:
        rows.append(_row("二次連絡", follow_up[:1500]))
    bubble = {
        "type": "bubble",
        "header": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "text",
                    "text": header + ("(訓練)" if drill else ""),
                    "weight": "bold",
                    "color": "#B71C1C",
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
                    "color": "#B71C1C",
                    "action": {
                        "type": "uri",
                        "label": "回答する",
                        "uri": alert_url(liff_url, alert_id),
                    },
                }
            ],
        },
    }
    alt = f"{shown_title}: 安否を回答してください"
    return {"type": "flex", "altText": alt[:1500], "contents": bubble}


def _alert_delivery(alert: Alert, _round: AlertRound | None, liff_url: str) -> dict[str, Any]:
    return alert_message(
        alert_id=alert.id,
        title=alert.title,
        message=alert.message,
        sender_name=alert.sender_name,
        started_at=alert.started_at,
        drill=alert.drill,
        liff_url=liff_url,
    )


def _reminder_delivery(alert: Alert, round_: AlertRound | None, liff_url: str) -> dict[str, Any]:
    assert round_ is not None, "a reminder delivery belongs to a round"
    return alert_message(
        alert_id=alert.id,
        title=alert.title,
        message=alert.message,
        sender_name=round_.sender_name,
        started_at=alert.started_at,
        drill=alert.drill,
        liff_url=liff_url,
        header="【再通知】未回答の方へ",
        follow_up=round_.message,
    )


# What each kind of delivery says: the one map the delivery engine renders through.
BUILDERS: dict[DeliveryKind, Callable[[Alert, AlertRound | None, str], dict[str, Any]]] = {
    DeliveryKind.ALERT: _alert_delivery,
    DeliveryKind.REMINDER: _reminder_delivery,
}


def delivery_message(
    alert: Alert, kind: DeliveryKind, round_: AlertRound | None, *, liff_url: str
) -> dict[str, Any]:
    """The message one batch of deliveries carries, chosen by its kind."""
    return BUILDERS[kind](alert, round_, liff_url)
