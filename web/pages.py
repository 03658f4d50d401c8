"""What a server-rendered face sets up the same way: encrypted cookie sessions of its own and
a jinja2 environment for its templates."""

import aiohttp_jinja2
import jinja2
import jinja2.bccache
from aiohttp import web
from aiohttp_session import setup as setup_sessions
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from domain.signing import purpose_key, session_purpose
from web import i18n
from web.settings import WebSettings
from web.timefmt import jst


def setup_page_app(
    app: web.Application, settings: WebSettings, *, package: str, cookie: str, path: str
) -> jinja2.Environment:
    """Give a face its sessions (HttpOnly, SameSite=Lax, Secure over https, scoped to `path`)
    and its templates (autoescaped, translated, with the `jst` filter); return the environment."""
    setup_sessions(
        app,
        EncryptedCookieStorage(
            # Per face: a cookie of one face is never a session of another (aiohttp-session
            # makes the Fernet key of these 32 bytes).
            purpose_key(settings.secret_key, session_purpose(package)),
            cookie_name=cookie,
            httponly=True,
            # Lax: the cookie comes back on a top-level navigation from another site (LINE
            # sends the browser back to the employee page's callback).
            samesite="Lax",
            secure=settings.secure_cookies,
            path=path,
        ),
    )
    env = face_templates(app, package)
    env.filters["jst"] = jst
    return env


class _CompiledOnce(jinja2.BytecodeCache):
    """Compiled templates kept for the process: a face's environment compiles each template
    once however many apps the process makes (the tests make one a test, and compiling took
    7 % of their time). Keyed by each template's file and checked against its source."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if (code := self._code.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledOnce()


def face_templates(app: web.Application, package: str) -> jinja2.Environment:
    """Give a face the templates of `package`: autoescaped, translated, each compiled once
    per process."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader(package),
        autoescape=jinja2.select_autoescape(default=True),
        bytecode_cache=_COMPILED,
    )
    return i18n.install(env)
