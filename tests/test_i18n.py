"""Languages: every marked text has its English translation, and a language chosen for one
person never leaks into another's texts."""

import asyncio
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from domain import i18n

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "console", "domain", "liff", "me", "web")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "translate": (2,)}
METHODS = [
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2.ext:babel_extract"),
    ("**/templates/**.txt", "jinja2.ext:babel_extract"),
]


def marked_texts() -> dict[str, list[str]]:
    """Every marked msgid in the product, with where it is marked."""
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for filename, _lineno, message, _comments, _context in extract_from_dir(
            ROOT / package,
            METHODS,
            keywords=KEYWORDS,
            options_map={"**/templates/**": {"extensions": "jinja2.ext.i18n"}},
        ):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault(msgid, []).append(f"{package}/{filename}")
    return found


def test_every_marked_text_has_an_english_translation() -> None:
    english = i18n.catalogue("en")
    missing = {msgid: where for msgid, where in marked_texts().items() if msgid not in english}
    assert not missing, "no English for:\n" + "\n".join(
        f"{where[0]}: {msgid!r}" for msgid, where in sorted(missing.items())
    )


def test_a_text_in_two_catalogues_reads_the_same_in_both() -> None:
    # Faces may each carry a common word (状況, 無事); the merged catalogue keeps one, so two
    # files must not disagree on it.
    seen: dict[str, tuple[str, Path]] = {}
    clashes = []
    for path in sorted((i18n.LOCALE_DIR / "en").glob("*.po")):
        with path.open("rb") as file:
            for message in read_po(file):
                msgid = message.id[0] if isinstance(message.id, tuple) else message.id
                if not msgid:
                    continue
                text = str(message.string)
                if msgid in seen and seen[msgid][0] != text:
                    other = seen[msgid][1].name
                    clashes.append(f"{msgid!r}: {other} and {path.name} disagree")
                seen[msgid] = (text, path)
    assert not clashes, "\n".join(clashes)


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("en", "en"),
        ("en-US", "en"),
        ("EN_gb", "en"),
        ("ja-JP", "ja"),
        ("fr", "ja"),
        ("", "ja"),
        (None, "ja"),
    ],
)
def test_language_tags_are_normalised_to_a_supported_language(tag, language) -> None:
    assert i18n.language_of(tag) == language


def test_a_text_without_translation_stays_japanese() -> None:
    assert i18n.translate("en", "翻訳のない文") == "翻訳のない文"


async def test_concurrent_tasks_keep_their_own_language() -> None:
    seen: dict[str, str] = {}

    async def build(name: str, language: str) -> None:
        with i18n.speaking(language):
            await asyncio.sleep(0)
            seen[name] = i18n.current_language()

    await asyncio.gather(build("a", "en"), build("b", "ja"), build("c", "en-US"))
    assert seen == {"a": "en", "b": "ja", "c": "en"}
    assert i18n.current_language() == "ja"
