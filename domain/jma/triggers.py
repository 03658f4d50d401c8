"""Which bulletin and rule started an alert, as the alert's pages and the admin groups'
/status show it. Apart from the rest of `domain.jma` (models only), so the tally can ask."""

from dataclasses import dataclass
from datetime import datetime

from domain.usage import JST
from models import JmaEvent


def jst_minute(moment: datetime | None) -> str:
    """A moment in Japan time to the minute ('不明' for none)."""
    return moment.astimezone(JST).strftime("%Y/%m/%d %H:%M") if moment else "不明"


@dataclass(frozen=True)
class Trigger:
    """The JMA event behind an automatic alert: the bulletin that fired, the quake (or
    warning) in one line, and the rule."""

    event_id: int
    bulletin: str
    summary: str
    rule: str

    @property
    def text(self) -> str:
        """The whole of it in one line."""
        quake = f" {self.summary}" if self.summary else ""
        return f"気象庁 {self.bulletin}{quake}(ルール「{self.rule}」)"


async def trigger_of(alert_id: int) -> Trigger | None:
    """Which bulletin and rule started an alert (None when a person started it)."""
    event = await JmaEvent.get_or_none(alert_id=alert_id).prefetch_related("bulletin", "rule")
    if event is None:
        return None
    bulletin = event.bulletin
    what = (
        f"{bulletin.title} {jst_minute(bulletin.report_time)} {bulletin.info_type}"
        f"(電文 {bulletin.id})"
        if bulletin
        else "電文不明"
    )
    return Trigger(
        event.id,
        what,
        " / ".join(line for line in event.summary.splitlines() if line),
        event.rule.name if event.rule else "削除済み",
    )
