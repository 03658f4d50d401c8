"""Templates speak the current language: `{{ _("…") }}` and `{% trans %}` in every face's
jinja2 environment translate through `domain.i18n` (see there for how a language is chosen)."""

import jinja2

from domain import i18n


def accepted_language(header: str | None) -> str:
    """The supported language a browser's `Accept-Language` prefers most (none: Japanese).

    For a person the product does not know yet (the link page): LINE's in-app browser sends
    the phone's language."""
    best: tuple[float, str] | None = None
    for part in (header or "")[:500].split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().split("-", 1)[0].lower()
        # Equal weights keep the browser's order.
        if primary in i18n.LANGUAGES and quality > 0 and (best is None or quality > best[0]):
            best = (quality, primary)
    return best[1] if best else i18n.DEFAULT_LANGUAGE


def install(env: jinja2.Environment) -> jinja2.Environment:
    """Give `env` the i18n extension, backed by the product's catalogues."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda msgid: i18n.gettext(msgid),
        lambda singular, plural, n: i18n.ngettext(singular, plural, n),
        newstyle=True,
    )
    env.globals["current_language"] = i18n.current_language
    return env
