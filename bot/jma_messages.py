"""The LINE messages of JMA automatic alerts: a notice to the admin groups (with its one-tap
button when it has one) and the replies to that tap."""

from typing import Any

from domain.jma.notices import ACTION_LABELS, postback_data
from models import JmaNotice

MAX_TEXT = 4900  # LINE's text limit is 5,000 UTF-16 units
BUTTON_TEXT = {
    "start": "この地震で安否確認を開始しますか？",
    "cancel": "自動発信を取りやめますか？",
}


def notice(row: JmaNotice) -> list[dict[str, Any]]:
    """A notice as LINE messages: its text, then a button when it carries one."""
    messages: list[dict[str, Any]] = [{"type": "text", "text": row.text[:MAX_TEXT]}]
    if row.action in ACTION_LABELS and row.event_id:
        messages.append(
            {
                "type": "template",
                "altText": BUTTON_TEXT[row.action],
                "template": {
                    "type": "buttons",
                    "text": BUTTON_TEXT[row.action],
                    "actions": [
                        {
                            "type": "postback",
                            "label": ACTION_LABELS[row.action],
                            "data": postback_data(row.action, row.event_id),
                        }
                    ],
                },
            }
        )
    return messages


def text(message: str) -> list[dict[str, Any]]:
    """A plain reply."""
    return [{"type": "text", "text": message[:MAX_TEXT]}]
