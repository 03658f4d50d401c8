"""The board's LINE messages: a post's push, and the free reply to the word 掲示板."""

from typing import Any
from urllib.parse import urlencode

from domain.alerts import display_sender, display_title
from domain.board import ReaderPost
from domain.i18n import gettext as _
from models import Alert, AlertRound
from web.timefmt import jst

BOARD_WORD = "掲示板"  # typed in chat (any language's text of it) or a rich menu postback
ACCENT = "#B71C1C"
MAX_BODY = 1500
MAX_BUBBLES = 5


def board_url(liff_url: str, alert_id: int) -> str:
    """The link that opens an alert's board in LIFF (read and reply)."""
    return f"{liff_url}?{urlencode({'board': alert_id})}"


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _bubble(
    *, title: str, author: str, at: str, body: str, url: str, replies_allowed: bool
) -> dict[str, Any]:
    label = _("掲示板を開いて返信する") if replies_allowed else _("掲示板を開く")
    return {
        "type": "bubble",
        "header": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {"type": "text", "text": _("掲示板"), "weight": "bold", "color": ACCENT},
                {"type": "text", "text": _clip(title, 200), "wrap": True, "size": "sm"},
            ],
        },
        "body": {
            "type": "box",
            "layout": "vertical",
            "spacing": "sm",
            "contents": [
                {
                    "type": "text",
                    "text": f"{author} {at}",
                    "size": "xs",
                    "color": "#595959",
                    "wrap": True,
                },
                {"type": "text", "text": _clip(body, MAX_BODY), "wrap": True},
            ],
        },
        "footer": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "button",
                    "style": "primary",
                    "color": ACCENT,
                    "action": {"type": "uri", "label": label, "uri": url},
                }
            ],
        },
    }


def board_push(alert: Alert, round_: AlertRound | None, liff_url: str) -> dict[str, Any]:
    """A board post pushed to the people it reaches (built from stored fields only, so a
    resumed send is identical)."""
    assert round_ is not None, "a board delivery belongs to a round"
    title = display_title(alert.title, alert.drill)
    bubble = _bubble(
        title=title,
        author=display_sender(round_.sender_name),
        at=jst(round_.started_at),
        body=round_.message,
        url=board_url(liff_url, alert.id),
        replies_allowed=False,
    )
    alt = _("掲示板: %(title)s", title=title)
    return {"type": "flex", "altText": _clip(alt, 400), "contents": bubble}


def latest_posts(posts: list[ReaderPost], liff_url: str) -> list[dict[str, Any]]:
    """掲示板: the newest posts reaching the employee, newest first."""
    if not posts:
        return [{"type": "text", "text": _("掲示板に新しい投稿はありません。")}]
    bubbles = [
        _bubble(
            title=post.alert_title,
            author=display_sender(post.author),
            at=jst(post.created_at),
            body=post.body,
            url=board_url(liff_url, post.alert_id),
            replies_allowed=post.replies_allowed,
        )
        for post in posts[:MAX_BUBBLES]
    ]
    contents = bubbles[0] if len(bubbles) == 1 else {"type": "carousel", "contents": bubbles}
    alt = _("掲示板の投稿 %(count)s件", count=len(bubbles))
    return [{"type": "flex", "altText": alt, "contents": contents}]
