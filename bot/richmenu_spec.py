"""The rich menus as data (unlinked and linked, a Japanese and an English pair): size, chat
bar text, and each area's label, bounds and action.

`python -m bot.richmenu_art` draws the images from this spec; `python -m bot richmenu sync`
sends it to LINE with those images. The postback data are the vocabulary the handlers parse."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMAGES = Path(__file__).resolve().parent / "static" / "richmenu"
CHAT_BAR_TEXT = "メニュー"  # LINE allows 14 characters


@dataclass(frozen=True)
class Bounds:
    """A tap area in image pixels, from the top-left corner."""

    x: int
    y: int
    width: int
    height: int

    def as_json(self) -> dict[str, int]:
        """LINE's bounds object."""
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class Area:
    """One tap area: the label drawn on it, the icon beside the label, and its action."""

    label: str
    icon: str  # a shape richmenu_art knows how to draw
    bounds: Bounds
    action: dict[str, str] = field(hash=False)
    primary: bool = False  # drawn in the strong colour: the one thing to do here


@dataclass(frozen=True)
class MenuSpec:
    """One rich menu: which users see it (`unlinked` or `linked`, each per language; see
    `menu_kind`), its size and areas."""

    kind: str
    width: int
    height: int
    chat_bar_text: str
    areas: tuple[Area, ...]
    language: str = "ja"

    @property
    def linked(self) -> bool:
        """Whether linked employees see it (else friends not linked)."""
        return self.kind.startswith("linked")

    @property
    def image_path(self) -> Path:
        """The committed PNG that shows this menu."""
        return IMAGES / f"{self.kind}.png"

    @property
    def alias_id(self) -> str:
        """The rich menu alias that always points at the current menu of this kind."""
        return f"anpi-{self.kind}"

    def request_json(self, name: str) -> dict[str, Any]:
        """LINE's rich menu object (RichMenuRequest) under the given name."""
        return {
            "size": {"width": self.width, "height": self.height},
            "selected": True,
            "name": name,
            "chatBarText": self.chat_bar_text,
            "areas": [
                {"bounds": area.bounds.as_json(), "action": dict(area.action)}
                for area in self.areas
            ],
        }


def postback(label: str, data: str, display_text: str) -> dict[str, str]:
    """A postback action: the bot gets `data`; the chat shows `display_text` as the user's."""
    return {"type": "postback", "label": label, "data": data, "displayText": display_text}


FULL_WIDTH = 2500
SHORT = 843  # half of 1686, LINE's two standard heights

UNLINKED = MenuSpec(
    kind="unlinked",
    width=FULL_WIDTH,
    height=SHORT,
    chat_bar_text=CHAT_BAR_TEXT,
    areas=(
        Area(
            "LINE連携する",
            "link",
            Bounds(0, 0, 1666, SHORT),
            postback("LINE連携する", "action=link", "連携"),
            primary=True,
        ),
        Area(
            "使い方",
            "help",
            Bounds(1666, 0, FULL_WIDTH - 1666, SHORT),
            postback("使い方", "action=help", "使い方"),
        ),
    ),
)

HALF = FULL_WIDTH // 2
THIRD = FULL_WIDTH // 3  # the second row: 連携情報 · 掲示板 · 使い方
LINKED = MenuSpec(
    kind="linked",
    width=FULL_WIDTH,
    height=2 * SHORT,
    chat_bar_text=CHAT_BAR_TEXT,
    areas=(
        Area(
            "最新の安否確認に回答",
            "answer",
            Bounds(0, 0, HALF, SHORT),
            postback("最新の安否確認に回答", "action=answer", "回答"),
            primary=True,
        ),
        Area(
            "自分の回答",
            "my_answer",
            Bounds(HALF, 0, FULL_WIDTH - HALF, SHORT),
            postback("自分の回答", "action=my_answer", "自分の回答"),
        ),
        Area(
            "連携情報",
            "link_info",
            Bounds(0, SHORT, THIRD, SHORT),
            postback("連携情報", "action=link_info", "連携情報"),
        ),
        Area(
            "掲示板",
            "board",
            Bounds(THIRD, SHORT, FULL_WIDTH - 2 * THIRD, SHORT),
            postback("掲示板", "action=board", "掲示板"),
        ),
        Area(
            "使い方",
            "help",
            Bounds(FULL_WIDTH - THIRD, SHORT, THIRD, SHORT),
            postback("使い方", "action=help", "使い方"),
        ),
    ),
)

UNLINKED_EN = MenuSpec(
    kind="unlinked_en",
    width=FULL_WIDTH,
    height=SHORT,
    chat_bar_text="Menu",
    language="en",
    areas=(
        Area(
            "Link LINE",
            "link",
            Bounds(0, 0, 1666, SHORT),
            postback("Link LINE", "action=link", "Link"),
            primary=True,
        ),
        Area(
            "Help",
            "help",
            Bounds(1666, 0, FULL_WIDTH - 1666, SHORT),
            postback("Help", "action=help", "Help"),
        ),
    ),
)

LINKED_EN = MenuSpec(
    kind="linked_en",
    width=FULL_WIDTH,
    height=2 * SHORT,
    chat_bar_text="Menu",
    language="en",
    areas=(
        Area(
            "Answer latest",
            "answer",
            Bounds(0, 0, HALF, SHORT),
            postback("Answer latest", "action=answer", "Answer"),
            primary=True,
        ),
        Area(
            "My answer",
            "my_answer",
            Bounds(HALF, 0, FULL_WIDTH - HALF, SHORT),
            postback("My answer", "action=my_answer", "My answer"),
        ),
        Area(
            "Link info",
            "link_info",
            Bounds(0, SHORT, THIRD, SHORT),
            postback("Link info", "action=link_info", "Link info"),
        ),
        Area(
            "Board",
            "board",
            Bounds(THIRD, SHORT, FULL_WIDTH - 2 * THIRD, SHORT),
            postback("Board", "action=board", "Board"),
        ),
        Area(
            "Help",
            "help",
            Bounds(FULL_WIDTH - THIRD, SHORT, THIRD, SHORT),
            postback("Help", "action=help", "Help"),
        ),
    ),
)

# The unlinked Japanese menu comes first: it is the channel's default.
MENUS: tuple[MenuSpec, ...] = (UNLINKED, LINKED, UNLINKED_EN, LINKED_EN)


def menu_kind(*, linked: bool, language: str) -> str:
    """The kind of menu a user sees: `unlinked`/`linked`, `_en` for English."""
    kind = "linked" if linked else "unlinked"
    return kind if language == "ja" else f"{kind}_{language}"
