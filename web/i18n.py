"""Templates speak the current language: `{{ _("…") }}` and `{% trans %}` in every face's
jinja2 environment translate through `domain.i18n` (see there for how a language is chosen)."""

import jinja2

from domain import i18n


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
