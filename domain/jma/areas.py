"""JMA's vocabularies a rule speaks: the intensity classes in their order, the prefectures
(地震情報／都道府県等, the JIS codes 01-47) and the tsunami warning levels."""

import enum
import unicodedata

from domain.errors import Invalid

# JMA's seismic intensity classes, weakest first: rules compare them in this order.
INTENSITIES = ("1", "2", "3", "4", "5-", "5+", "6-", "6+", "7")
INTENSITY_LABELS = {"5-": "5弱", "5+": "5強", "6-": "6弱", "6+": "6強"}

PREFECTURES = {
    "01": "北海道", "02": "青森県", "03": "岩手県", "04": "宮城県", "05": "秋田県",
    "06": "山形県", "07": "福島県", "08": "茨城県", "09": "栃木県", "10": "群馬県",
    "11": "埼玉県", "12": "千葉県", "13": "東京都", "14": "神奈川県", "15": "新潟県",
    "16": "富山県", "17": "石川県", "18": "福井県", "19": "山梨県", "20": "長野県",
    "21": "岐阜県", "22": "静岡県", "23": "愛知県", "24": "三重県", "25": "滋賀県",
    "26": "京都府", "27": "大阪府", "28": "兵庫県", "29": "奈良県", "30": "和歌山県",
    "31": "鳥取県", "32": "島根県", "33": "岡山県", "34": "広島県", "35": "山口県",
    "36": "徳島県", "37": "香川県", "38": "愛媛県", "39": "高知県", "40": "福岡県",
    "41": "佐賀県", "42": "長崎県", "43": "熊本県", "44": "大分県", "45": "宮崎県",
    "46": "鹿児島県", "47": "沖縄県",
}  # fmt: skip
PREFECTURE_CODES = {name: code for code, name in PREFECTURES.items()}

# 津波予報区 whose names do not start with their prefecture's name.
COAST_PREFECTURES = {
    "オホーツク海沿岸": ("01",), "陸奥湾": ("02",), "伊豆諸島": ("13",), "小笠原諸島": ("13",),
    "東京湾内湾": ("12", "13", "14"), "相模湾・三浦半島": ("14",), "佐渡": ("15",),
    "伊勢・三河湾": ("23", "24"), "淡路島南部": ("28",), "隠岐": ("32",),
    "有明・八代海": ("40", "41", "42", "43"), "壱岐・対馬": ("42",),
    "種子島・屋久島地方": ("46",), "奄美群島・トカラ列島": ("46",), "沖縄本島地方": ("47",),
    "大東島地方": ("47",), "宮古島・八重山地方": ("47",),
}  # fmt: skip


class TsunamiLevel(enum.IntEnum):
    """A coast's tsunami bulletin, in rising order."""

    NONE = 0  # 津波予報, 解除, 津波なし
    ADVISORY = 1  # 津波注意報
    WARNING = 2  # 津波警報
    MAJOR = 3  # 大津波警報


TSUNAMI_LABELS = {
    TsunamiLevel.NONE: "津波予報等",
    TsunamiLevel.ADVISORY: "津波注意報",
    TsunamiLevel.WARNING: "津波警報",
    TsunamiLevel.MAJOR: "大津波警報",
}


def tsunami_level(name: str, code: str) -> TsunamiLevel:
    """A tsunami category (Kind Name/Code, 警報等情報要素) as a level."""
    if code in ("52", "53") or "大津波警報" in name:
        return TsunamiLevel.MAJOR
    if code == "51" or (name.startswith("津波警報") and "解除" not in name):
        return TsunamiLevel.WARNING
    if code == "62" or (name.startswith("津波注意報") and "解除" not in name):
        return TsunamiLevel.ADVISORY
    return TsunamiLevel.NONE


def normalize(text: str) -> str:
    """Full-width digits and signs as ASCII, spaces trimmed (JMA writes both)."""
    return unicodedata.normalize("NFKC", text or "").strip()


def parse_intensity(raw: str) -> str:
    """An intensity class as typed (`5-`, `5弱`, `５強`, `震度6弱`) in JMA's XML form."""
    text = normalize(raw).removeprefix("震度").replace("弱", "-").replace("強", "+")
    if text not in INTENSITIES:
        raise Invalid(f"震度 {raw!r} は 1 2 3 4 5弱 5強 6弱 6強 7 のどれかで指定してください。")
    return text


def intensity_rank(value: str | None) -> int:
    """An intensity's place in JMA's order; -1 for none or an unknown text (未入電)."""
    text = normalize(value or "")
    return INTENSITIES.index(text) if text in INTENSITIES else -1


def intensity_label(value: str | None) -> str:
    """An intensity as people read it: 5弱, 6強, 7; 不明 for none."""
    text = normalize(value or "")
    return INTENSITY_LABELS.get(text, text) if text in INTENSITIES else "不明"


def prefecture_code(raw: str) -> str:
    """A prefecture as typed (name or JMA code) as its two-digit code."""
    text = normalize(raw)
    if text.isdigit() and text.zfill(2) in PREFECTURES:
        return text.zfill(2)
    if text in PREFECTURE_CODES:
        return PREFECTURE_CODES[text]
    raise Invalid(f"都道府県 {raw!r} が見つかりません(例: 石川県 または 17)。")


def prefecture_name(code: str | None) -> str:
    """A prefecture code's name ('' for none)."""
    return PREFECTURES.get(code or "", "")


def coast_prefectures(name: str) -> tuple[str, ...]:
    """The prefectures a 津波予報区 lies in (from its name)."""
    name = normalize(name)
    if name in COAST_PREFECTURES:
        return COAST_PREFECTURES[name]
    return tuple(code for code, pref in PREFECTURES.items() if name.startswith(pref[:-1]))
