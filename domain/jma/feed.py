"""JMA's Atom feeds read safely: the entries, each with its bulletin's URL and type code (from
the file name JMA gives it, `..._VXSE53_010000.xml`), and which of them a rule can act on."""

import re
from dataclasses import dataclass
from datetime import datetime
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from domain.jma.bulletin import BulletinRefused

MAX_FEED_BYTES = 2 * 1024 * 1024  # JMA's feeds are tens of kilobytes
ATOM = "{http://www.w3.org/2005/Atom}"
TYPE_IN_NAME = re.compile(r"_(V[A-Z]{3}\d{2})_")
# The bulletins rules act on: 震度速報, 震源・震度に関する情報, 津波警報・注意報・予報, and the
# weather warnings that carry 特別警報. Since 2026-05-28 JMA issues those as
# 気象警報・注意報（Ｒ０６） per phenomenon (VPWW55 大雨 … VPWW61 その他); VPWW54 （Ｈ２７） and
# VPWW53 continue for a transition until FY2028 and carry the same 特別警報 (one event: same
# areas, same report time).
WEATHER_TYPES = frozenset({"VPWW53", "VPWW54", *(f"VPWW{n}" for n in range(55, 62))})
WANTED_TYPES = frozenset({"VXSE51", "VXSE53", "VTSE41"}) | WEATHER_TYPES


@dataclass(frozen=True)
class FeedEntry:
    """One feed entry: its ID, when JMA updated it, the bulletin's URL and type code."""

    id: str
    updated: datetime | None
    url: str
    type_code: str
    title: str

    @property
    def wanted(self) -> bool:
        """Whether a rule can act on this bulletin's type."""
        return self.type_code in WANTED_TYPES


def parse_feed(data: bytes) -> list[FeedEntry]:
    """The entries of an Atom feed (no DTD, no entities, bounded); BulletinRefused else."""
    if len(data) > MAX_FEED_BYTES:
        raise BulletinRefused(f"フィードが大きすぎます({len(data):,} バイト)。")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BulletinRefused(f"安全でないXMLのため読みません({type(exc).__name__})。") from None
    except ParseError as exc:
        raise BulletinRefused(f"フィードをXMLとして読めません({exc})。") from None
    if root.tag != f"{ATOM}feed":
        raise BulletinRefused("Atom フィードではありません。")
    entries = []
    for entry in root.findall(f"{ATOM}entry"):
        link = entry.find(f"{ATOM}link")
        url = (link.get("href", "") if link is not None else "").strip()
        entry_id = (entry.findtext(f"{ATOM}id") or url).strip()
        if not url or not entry_id:
            continue
        found = TYPE_IN_NAME.search(url.rsplit("/", 1)[-1])
        raw_time = (entry.findtext(f"{ATOM}updated") or "").strip()
        try:
            updated = datetime.fromisoformat(raw_time.replace("Z", "+00:00")) if raw_time else None
        except ValueError:
            updated = None
        entries.append(
            FeedEntry(
                entry_id[:500],
                updated,
                url,
                found[1] if found else "",
                (entry.findtext(f"{ATOM}title") or "").strip(),
            )
        )
    return entries
