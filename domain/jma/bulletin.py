"""One JMA bulletin parsed safely into what a rule needs: which bulletin, its status and info
type, the earthquake, the intensities per prefecture and area, the tsunami level per coast and
the special weather warnings per area. Anything else is refused in one line."""

import enum
import math
from dataclasses import dataclass, field
from datetime import datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from domain.errors import Invalid
from domain.jma.areas import TsunamiLevel, intensity_rank, normalize, tsunami_level

MAX_BULLETIN_BYTES = 4 * 1024 * 1024  # the largest JMA sample is 0.4 MB

REPORT = "{http://xml.kishou.go.jp/jmaxml1/}"
HEAD = "{http://xml.kishou.go.jp/jmaxml1/informationBasis1/}"
SEISMOLOGY = "{http://xml.kishou.go.jp/jmaxml1/body/seismology1/}"
METEOROLOGY = "{http://xml.kishou.go.jp/jmaxml1/body/meteorology1/}"
ELEMENTS = "{http://xml.kishou.go.jp/jmaxml1/elementBasis1/}"


class BulletinKind(enum.StrEnum):
    """The bulletins a rule can act on (JMA's type codes, told apart by Control/Title)."""

    INTENSITY = "VXSE51"  # 震度速報
    QUAKE = "VXSE53"  # 震源・震度に関する情報
    TSUNAMI = "VTSE41"  # 津波警報・注意報・予報
    # 気象警報・注意報: 特別警報 among them (VPWW55-61 （Ｒ０６） since 2026-05, VPWW54 （Ｈ２７）
    # and VPWW53 in transition); told apart from the rest by their 特別警報 kinds.
    WEATHER = "VPWW"


KIND_LABELS = {
    BulletinKind.INTENSITY: "震度速報",
    BulletinKind.QUAKE: "震源・震度に関する情報",
    BulletinKind.TSUNAMI: "津波警報・注意報・予報",
    BulletinKind.WEATHER: "気象特別警報・警報・注意報",
}


class BulletinRefused(Invalid):
    """A bulletin that cannot be read or is not one we act on; the message is one line."""

    code = "bulletin_refused"


def kind_of_title(title: str) -> BulletinKind | None:
    """The kind a Control/Title names (VTSE41's carries a stray trailing `a`)."""
    title = normalize(title)
    if title == "震度速報":
        return BulletinKind.INTENSITY
    if title == "震源・震度に関する情報":
        return BulletinKind.QUAKE
    if title.startswith("津波警報・注意報・予報"):
        return BulletinKind.TSUNAMI
    if title.startswith(("気象特別警報・警報・注意報", "気象警報・注意報")):
        return BulletinKind.WEATHER
    return None


@dataclass(frozen=True)
class Region:
    """A prefecture or an area (細分区域) with its strongest intensity; `prefecture` is the
    code of the prefecture an area lies in."""

    code: str
    name: str
    max_intensity: str | None
    prefecture: str


@dataclass(frozen=True)
class Coast:
    """A 津波予報区 and its level."""

    code: str
    name: str
    level: TsunamiLevel
    kind_name: str


@dataclass(frozen=True)
class SpecialWarning:
    """特別警報 newly issued (発表) for an area; `prefecture` from the area code's first digits."""

    code: str
    name: str
    kinds: tuple[str, ...]
    prefecture: str


@dataclass(frozen=True)
class Bulletin:
    """What a rule reads of one bulletin."""

    kind: BulletinKind
    status: str  # 通常 / 訓練 / 試験
    info_type: str  # 発表 / 訂正 / 取消
    title: str
    event_ids: tuple[str, ...]
    serial: str
    report_time: datetime | None
    headline: str
    origin_time: datetime | None = None
    hypocentre: str = ""
    coordinate: str = ""
    magnitude: str = ""
    max_intensity: str | None = None
    prefectures: tuple[Region, ...] = ()
    areas: tuple[Region, ...] = ()
    coasts: tuple[Coast, ...] = ()
    specials: tuple[SpecialWarning, ...] = field(default_factory=tuple)

    @property
    def is_cancel(self) -> bool:
        """取消: the bulletin withdraws an earlier one."""
        return self.info_type == "取消"

    @property
    def event_key(self) -> str:
        """What names the event across its bulletins: the EventID (an earthquake and its
        tsunami share it), or for weather the issuing time and areas (JMA gives no ID)."""
        if self.kind is BulletinKind.WEATHER:
            areas = ",".join(sorted({s.prefecture for s in self.specials}))
            stamp = self.report_time.isoformat() if self.report_time else ""
            return f"weather:{areas}:{stamp}"
        return f"eq:{self.event_ids[0]}" if self.event_ids else ""


def _text(element: Element | None, path: str = "") -> str:
    if element is None:
        return ""
    found = element.find(path) if path else element
    return normalize(found.text or "") if found is not None and found.text else ""


def _time(raw: str) -> datetime | None:
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None
    except ValueError:
        return None


def parse_bulletin(data: bytes) -> Bulletin:
    """Parse one bulletin (no DTD, no entities, at most MAX_BULLETIN_BYTES); raise
    BulletinRefused with a one-line reason for anything else."""
    if len(data) > MAX_BULLETIN_BYTES:
        raise BulletinRefused(
            f"電文が大きすぎます({len(data):,} バイト、上限 {MAX_BULLETIN_BYTES:,} バイト)。"
        )
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BulletinRefused(f"安全でないXMLのため読みません({type(exc).__name__})。") from None
    except (ParseError, ValueError) as exc:
        raise BulletinRefused(f"XMLとして読めません({str(exc).splitlines()[0][:80]})。") from None
    if root.tag != f"{REPORT}Report":
        raise BulletinRefused("気象庁の防災情報XML(Report)ではありません。")
    control, head = root.find(f"{REPORT}Control"), root.find(f"{HEAD}Head")
    if control is None or head is None:
        raise BulletinRefused("Control または Head がありません。")
    title = _text(control, f"{REPORT}Title")
    kind = kind_of_title(title)
    if kind is None:
        raise BulletinRefused(f"この種類の電文は扱いません({title or '表題なし'})。")
    status = _text(control, f"{REPORT}Status")
    info_type = _text(head, f"{HEAD}InfoType")
    if status not in ("通常", "訓練", "試験") or info_type not in ("発表", "訂正", "取消"):
        raise BulletinRefused(f"Status {status!r} / InfoType {info_type!r} が不明です。")
    base = {
        "kind": kind,
        "status": status,
        "info_type": info_type,
        "title": _text(head, f"{HEAD}Title") or title,
        "event_ids": tuple(_text(head, f"{HEAD}EventID").split()),
        "serial": _text(head, f"{HEAD}Serial"),
        "report_time": _time(_text(head, f"{HEAD}ReportDateTime")),
        "headline": _text(head, f"{HEAD}Headline/{HEAD}Text"),
    }
    if kind is not BulletinKind.WEATHER and not base["event_ids"]:
        raise BulletinRefused("EventID がありません。")
    if info_type == "取消":
        return Bulletin(**base)  # a 取消 body is only <Text>
    if kind is BulletinKind.WEATHER:
        return Bulletin(**base, specials=_specials(root))
    body = root.find(f"{SEISMOLOGY}Body")
    if body is None:
        raise BulletinRefused("Body がありません。")
    quake = _earthquake(body)
    if kind is BulletinKind.TSUNAMI:
        return Bulletin(**base, **quake, coasts=_coasts(body))
    observation = body.find(f"{SEISMOLOGY}Intensity/{SEISMOLOGY}Observation")
    if observation is None:
        raise BulletinRefused("震度の観測(Intensity/Observation)がありません。")
    prefectures, areas = _intensities(observation)
    return Bulletin(
        **base,
        **quake,
        max_intensity=_text(observation, f"{SEISMOLOGY}MaxInt") or None,
        prefectures=prefectures,
        areas=areas,
    )


def _earthquake(body: Element) -> dict:
    quake = body.find(f"{SEISMOLOGY}Earthquake")
    if quake is None:
        return {}
    area = quake.find(f"{SEISMOLOGY}Hypocenter/{SEISMOLOGY}Area")
    magnitude = quake.find(f"{ELEMENTS}Magnitude")
    shown = ""
    if magnitude is not None:
        value = normalize(magnitude.text or "")
        try:
            known = not math.isnan(float(value))
        except ValueError:
            known = False
        shown = normalize(magnitude.get("description", "")) or (f"M{value}" if known else "不明")
    return {
        "origin_time": _time(_text(quake, f"{SEISMOLOGY}OriginTime")),
        "hypocentre": _text(area, f"{SEISMOLOGY}Name"),
        "coordinate": _text(area, f"{ELEMENTS}Coordinate"),
        "magnitude": shown,
    }


def _intensities(observation: Element) -> tuple[tuple[Region, ...], tuple[Region, ...]]:
    prefectures: list[Region] = []
    areas: list[Region] = []
    for pref in observation.findall(f"{SEISMOLOGY}Pref"):
        code = _text(pref, f"{SEISMOLOGY}Code")
        prefectures.append(Region(code, _text(pref, f"{SEISMOLOGY}Name"), _max_int(pref), code))
        for area in pref.findall(f"{SEISMOLOGY}Area"):
            areas.append(
                Region(
                    _text(area, f"{SEISMOLOGY}Code"),
                    _text(area, f"{SEISMOLOGY}Name"),
                    _max_int(area),
                    code,
                )
            )
    return tuple(prefectures), tuple(areas)


def _max_int(element: Element) -> str | None:
    value = _text(element, f"{SEISMOLOGY}MaxInt")
    return value if intensity_rank(value) >= 0 else None  # e.g. 震度５弱以上未入電


def _coasts(body: Element) -> tuple[Coast, ...]:
    coasts = []
    for item in body.findall(f"{SEISMOLOGY}Tsunami/{SEISMOLOGY}Forecast/{SEISMOLOGY}Item"):
        kind = item.find(f"{SEISMOLOGY}Category/{SEISMOLOGY}Kind")
        name, code = _text(kind, f"{SEISMOLOGY}Name"), _text(kind, f"{SEISMOLOGY}Code")
        coasts.append(
            Coast(
                _text(item, f"{SEISMOLOGY}Area/{SEISMOLOGY}Code"),
                _text(item, f"{SEISMOLOGY}Area/{SEISMOLOGY}Name"),
                tsunami_level(name, code),
                name,
            )
        )
    return tuple(coasts)


def _specials(root: Element) -> tuple[SpecialWarning, ...]:
    body = root.find(f"{METEOROLOGY}Body")
    if body is None:
        raise BulletinRefused("Body がありません。")
    found = []
    for warning in body.findall(f"{METEOROLOGY}Warning"):
        for item in warning.findall(f"{METEOROLOGY}Item"):
            kinds = tuple(
                _text(kind, f"{METEOROLOGY}Name")
                for kind in item.findall(f"{METEOROLOGY}Kind")
                if "特別警報" in _text(kind, f"{METEOROLOGY}Name")
                and _text(kind, f"{METEOROLOGY}Status") == "発表"
            )
            area = item.find(f"{METEOROLOGY}Area")
            if not kinds or area is None:
                continue
            code = _text(area, f"{METEOROLOGY}Code")
            found.append(SpecialWarning(code, _text(area, f"{METEOROLOGY}Name"), kinds, code[:2]))
    return tuple(found)
