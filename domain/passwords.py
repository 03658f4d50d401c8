"""Password strength: the one check every face's new password goes through."""

import itertools
from functools import cache
from pathlib import Path

from domain.errors import Invalid
from domain.i18n import gettext as _

COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")
MIN_DISTINCT = 3  # "aaaaaaaa", "abababab"


@cache
def _common() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _is_run(password: str) -> bool:
    """Whether each character follows the one before it by the same step: 12345678, abcdefgh."""
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(password)}
    return len(steps) == 1 and abs(next(iter(steps))) == 1


def check_strength(password: str) -> None:
    """Refuse a password that attackers try first (Invalid with the Japanese reason)."""
    folded = password.strip().lower()
    if folded in _common() or len(set(folded)) < MIN_DISTINCT or _is_run(folded):
        raise Invalid(
            _(
                "よく使われているパスワードや推測されやすいパスワード(同じ文字や連続した文字の並び)は"
                "使えません。ほかの人が思いつかない語を組み合わせてください。"
            ),
            code="weak_password",
            fields={"password": _("推測されやすいです")},
        )
