"""How moments are written for people: Japan time, as the seed's screens write it."""

from datetime import datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")


def jst(moment: datetime) -> str:
    """A moment as the seed's screen writes it: 2021/01/22 17:39 (Japan time)."""
    return moment.astimezone(JST).strftime("%Y/%m/%d %H:%M")
