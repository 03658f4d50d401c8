"""Draw the rich menu images from bot/richmenu_spec.py: `python -m bot.richmenu_art`.

Writes bot/static/richmenu/{kind}.png, which are committed, so the server needs neither
Pillow nor a font. Needs Pillow (the `test` extra) and the Noto Sans CJK font
(`apt-get install fonts-noto-cjk`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.richmenu_spec import IMAGES, MENUS, Area, MenuSpec

FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc"),
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc"),
)
FONT_INDEX = 0  # Noto Sans CJK JP in the collection

Colour = tuple[int, int, int]

# Colours with accessible contrast: white on GREEN is 5.0:1, INK on CARD is 15:1.
BACKGROUND = (226, 232, 228)
CARD = (255, 255, 255)
GREEN = (0, 122, 61)
INK = (32, 33, 36)
ICON_ON_CARD = GREEN
ICON_ON_GREEN = (255, 255, 255)

GAP = 18  # pixels between cards
RADIUS = 44
LABEL_SIZE = 118
ICON_SIZE = 230
MAX_LABEL_WIDTH = 0.86  # of the card's width


class FontMissing(Exception):
    """The CJK font is not installed; the message says how to install it."""


def find_font(explicit: Path | None = None) -> Path:
    """The Noto Sans CJK Bold collection, or FontMissing naming the package to install."""
    candidates = (explicit,) if explicit else FONT_CANDIDATES
    for path in candidates:
        if path is not None and path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates if p is not None)
    raise FontMissing(
        f"Noto Sans CJK Bold not found (looked at {looked}): "
        "install it with `apt-get install fonts-noto-cjk`, or pass --font"
    )


def _icon_link(
    draw: ImageDraw.ImageDraw, cx: int, cy: int, s: int, colour: Colour, font: Path
) -> None:
    """Two chain links side by side, overlapping."""
    w, h, t = int(s * 0.62), int(s * 0.36), max(10, s // 12)
    for left in (cx - s * 0.5, cx - s * 0.12):
        draw.rounded_rectangle(
            (left, cy - h / 2, left + w, cy + h / 2), radius=h // 2, outline=colour, width=t
        )


def _icon_help(
    draw: ImageDraw.ImageDraw, cx: int, cy: int, s: int, colour: Colour, font: Path
) -> None:
    """A question mark in a ring."""
    r, t = s * 0.42, max(8, s // 14)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=t)
    mark = ImageFont.truetype(str(font), int(s * 0.55), index=FONT_INDEX)
    draw.text((cx, cy), "?", font=mark, fill=colour, anchor="mm")


def _icon_answer(
    draw: ImageDraw.ImageDraw, cx: int, cy: int, s: int, colour: Colour, font: Path
) -> None:
    """A tick in a ring."""
    r, t = s * 0.42, max(10, s // 12)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=t)
    points = [
        (cx - r * 0.45, cy + r * 0.02),
        (cx - r * 0.1, cy + r * 0.38),
        (cx + r * 0.5, cy - r * 0.3),
    ]
    draw.line(points, fill=colour, width=t + 4, joint="curve")


def _icon_my_answer(
    draw: ImageDraw.ImageDraw, cx: int, cy: int, s: int, colour: Colour, font: Path
) -> None:
    """A sheet with lines of text."""
    w, h, t = s * 0.62, s * 0.8, max(8, s // 14)
    draw.rounded_rectangle(
        (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), radius=s // 12, outline=colour, width=t
    )
    for i in range(3):
        y = cy - h * 0.2 + i * h * 0.2
        draw.line((cx - w * 0.28, y, cx + w * 0.28, y), fill=colour, width=t)


def _icon_link_info(
    draw: ImageDraw.ImageDraw, cx: int, cy: int, s: int, colour: Colour, font: Path
) -> None:
    """A person."""
    r = s * 0.17
    draw.ellipse((cx - r, cy - s * 0.36, cx + r, cy - s * 0.36 + 2 * r), fill=colour)
    draw.chord((cx - s * 0.34, cy - s * 0.02, cx + s * 0.34, cy + s * 0.66), 180, 360, fill=colour)


def _icon_board(
    draw: ImageDraw.ImageDraw, cx: int, cy: int, s: int, colour: Colour, font: Path
) -> None:
    """A notice pinned to a board."""
    w, h, t = s * 0.7, s * 0.62, max(6, s // 16)
    top = cy - h / 2 + s * 0.06
    draw.rectangle((cx - w / 2, top, cx + w / 2, top + h), outline=colour, width=t)
    for i in range(2):
        y = top + h * (0.38 + i * 0.28)
        draw.line((cx - w * 0.3, y, cx + w * 0.3, y), fill=colour, width=t)
    r = s * 0.08
    draw.ellipse((cx - r, top - r * 1.2, cx + r, top + r * 0.8), fill=colour)


ICONS: dict[str, Callable[[ImageDraw.ImageDraw, int, int, int, Colour, Path], None]] = {
    "link": _icon_link,
    "help": _icon_help,
    "answer": _icon_answer,
    "my_answer": _icon_my_answer,
    "link_info": _icon_link_info,
    "board": _icon_board,
}


def _label_font(font: Path, label: str, max_width: float) -> ImageFont.FreeTypeFont:
    """The label's font at LABEL_SIZE, smaller only when the label would not fit."""
    size = LABEL_SIZE
    while True:
        face = ImageFont.truetype(str(font), size, index=FONT_INDEX)
        if face.getlength(label) <= max_width or size <= 48:
            return face
        size -= 4


def _draw_area(draw: ImageDraw.ImageDraw, area: Area, font: Path) -> None:
    b = area.bounds
    box = (b.x + GAP, b.y + GAP, b.x + b.width - GAP, b.y + b.height - GAP)
    fill = GREEN if area.primary else CARD
    draw.rounded_rectangle(box, radius=RADIUS, fill=fill)
    text_colour = (255, 255, 255) if area.primary else INK
    icon_colour = ICON_ON_GREEN if area.primary else ICON_ON_CARD
    cx = b.x + b.width // 2
    content_height = ICON_SIZE + 60 + LABEL_SIZE
    top = b.y + (b.height - content_height) // 2
    ICONS[area.icon](draw, cx, top + ICON_SIZE // 2, ICON_SIZE, icon_colour, font)
    face = _label_font(font, area.label, (b.width - 2 * GAP) * MAX_LABEL_WIDTH)
    label_y = top + ICON_SIZE + 60 + LABEL_SIZE // 2
    draw.text((cx, label_y), area.label, font=face, fill=text_colour, anchor="mm")


def render(spec: MenuSpec, font: Path) -> Image.Image:
    """The menu's image: one card per area, each with its icon and label, as a palette PNG."""
    image = Image.new("RGB", (spec.width, spec.height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for area in spec.areas:
        _draw_area(draw, area, font)
    # A small palette keeps the file far under LINE's 1 MB and loses nothing visible here.
    return image.quantize(colors=48, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def write_all(out_dir: Path = IMAGES, font: Path | None = None) -> list[Path]:
    """Draw every menu of the spec into `out_dir`; return the files written."""
    font_path = find_font(font)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in MENUS:
        path = out_dir / f"{spec.kind}.png"
        render(spec, font_path).save(path, format="PNG", optimize=True)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the images; print what was written, or why not."""
    parser = argparse.ArgumentParser(prog="python -m bot.richmenu_art", description=__doc__)
    parser.add_argument("--out", type=Path, default=IMAGES, help="output folder")
    parser.add_argument("--font", type=Path, help="a Noto Sans CJK Bold .ttc/.otf file")
    args = parser.parse_args(argv)
    try:
        written = write_all(args.out, args.font)
    except FontMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
