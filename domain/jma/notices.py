"""The messages owed to the admin groups (written with each decision): which are still owed,
and marking each group done so a resumed push never repeats one."""

from datetime import UTC, datetime

from domain.jma.events import CANCEL_ACTION, START_ACTION
from models import JmaNotice

ACTION_LABELS = {START_ACTION: "連絡を開始する", CANCEL_ACTION: "自動発信を取りやめる"}
POSTBACK_PREFIX = "jma="


def postback_data(action: str, event_id: int) -> str:
    """The postback a notice's button carries."""
    return f"{POSTBACK_PREFIX}{action}&event={event_id}"


def parse_postback(data: str) -> tuple[str, int] | None:
    """(action, event ID) of a JMA notice's button; None for any other postback."""
    if not (data or "").startswith(POSTBACK_PREFIX):
        return None
    fields = dict(part.partition("=")[::2] for part in data.split("&"))
    action, event = fields.get("jma", ""), fields.get("event", "")
    if action not in ACTION_LABELS or not event.isdigit() or not 0 < int(event) < 2**31:
        return None
    return action, int(event)


async def owed() -> list[JmaNotice]:
    """Notices not yet pushed to every admin group, oldest first."""
    return await JmaNotice.filter(sent_at__isnull=True).order_by("id").limit(50)


async def pushed(notice: JmaNotice, group_id: str) -> None:
    """One admin group got the notice."""
    notice.groups_done = [*notice.groups_done, group_id]
    await notice.save(update_fields=["groups_done"])


async def done(notice: JmaNotice) -> None:
    """Every admin group got the notice (or there is none to get it)."""
    notice.sent_at = datetime.now(UTC)
    await notice.save(update_fields=["sent_at"])
