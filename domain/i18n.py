"""Languages: Japanese is the source text, English a gettext catalogue beside the code.

Every user-facing string is written in Japanese and marked where it is used: `_("…")` in
Python (`from domain.i18n import gettext as _`) and `{{ _("…") }}` or `{% trans %}` in
templates. `domain/locale/<language>/*.po` translate it (one file per face, merged when read);
a string without a translation stays Japanese. Which language a text is in is decided where
the person is known: a face runs its work inside `speaking(language)` (a context variable, so
concurrent requests and deliveries never see each other's language), or a builder asks for a
language explicitly with `translate`. `tests/test_i18n.py` extracts every marked string with
Babel and fails on one the English catalogue lacks."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES: dict[str, str] = {"ja": "日本語", "en": "English"}
DEFAULT_LANGUAGE = "ja"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_current: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


def language_of(tag: str | None) -> str:
    """A stored or reported language tag ("en-US", "EN", "ja-JP", None) as one of LANGUAGES;
    anything else is Japanese."""
    if not tag:
        return DEFAULT_LANGUAGE
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    """The language of the text being built now."""
    return _current.get()


@contextmanager
def speaking(language: str | None) -> Iterator[str]:
    """Build texts in `language` (normalised) within the block."""
    token = _current.set(language_of(language))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def set_language(language: str | None) -> str:
    """Set the language for the rest of the current task (a request's middleware)."""
    normalised = language_of(language)
    _current.set(normalised)
    return normalised


@functools.cache
def catalogue(language: str) -> dict[str, str | tuple[str, ...]]:
    """Every translation of `language`, merged from its .po files (read once)."""
    translations: dict[str, str | tuple[str, ...]] = {}
    directory = LOCALE_DIR / language
    if language == DEFAULT_LANGUAGE or not directory.is_dir():
        return translations
    for path in sorted(directory.glob("*.po")):
        with path.open("rb") as file:
            for message in read_po(file, locale=language):
                if not message.id or message.fuzzy:
                    continue
                if isinstance(message.id, tuple):
                    plurals = tuple(message.string)
                    if all(plurals):
                        translations[message.id[0]] = plurals
                elif message.string:
                    translations[message.id] = message.string
    return translations


def translate(language: str | None, msgid: str, /, **params: object) -> str:
    """`msgid` (Japanese) in `language`, with `%(name)s` parameters filled in."""
    found = catalogue(language_of(language)).get(msgid)
    text = found if isinstance(found, str) else msgid
    return text % params if params else text


def gettext(msgid: str, /, **params: object) -> str:
    """`msgid` in the current language (see `speaking`)."""
    return translate(_current.get(), msgid, **params)


def ngettext(singular: str, plural: str, n: int, /, **params: object) -> str:
    """The singular or plural form for `n` in the current language (Japanese has one form)."""
    params.setdefault("num", n)
    language = _current.get()
    found = catalogue(language).get(singular)
    if isinstance(found, tuple):
        text = found[0] if n == 1 else found[-1]
    else:
        text = singular if n == 1 else plural
    return text % params


def in_all_languages(msgid: str) -> frozenset[str]:
    """Every language's text of `msgid`: what a person may type for a word (連携, link)."""
    return frozenset(translate(language, msgid) for language in LANGUAGES)
