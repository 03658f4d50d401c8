"""The employee page's test helpers: the real app with LINE Login switched on (a `bot` fixture
that replaces conftest's where imported), and an employee's phone browser on /me/ that walks
LINE Login through the local LINE platform."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from domain.linking import issue_registration_code
from line_simulator import Simulator
from models import Employee
from tests import conftest

LOGIN_SECRET = "test-login-channel-secret"
PASSWORD = "sakura-2024-anpi"
CALLBACK_PATH = "/me/line/callback"


@pytest.fixture
async def bot(
    request: pytest.FixtureRequest,
    sim: Simulator,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[TestServer]:
    """The real app with the LINE Login channel secret set, its callback registered on the
    local LINE platform's login channel."""
    original = conftest.bot_config
    monkeypatch.setattr(
        conftest,
        "bot_config",
        lambda *args: replace(original(*args), line_login_channel_secret=LOGIN_SECRET),
    )
    workers = ("inbox",) if request.node.get_closest_marker("no_delivery_engine") else None
    server = await conftest.start_bot(sim, database_url, conftest.FAST_ENGINE, workers=workers)
    sim.config.login_channel_secret = LOGIN_SECRET
    sim.config.login_redirect_uris.append(str(server.make_url(CALLBACK_PATH)))
    yield server
    await server.close()


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class EmployeePhone:
    """An employee's phone browser: the page over HTTP (cookies kept, redirects not
    followed) and LINE Login's pages on the local LINE platform."""

    def __init__(self, bot: TestServer, sim: Simulator, session: aiohttp.ClientSession) -> None:
        self.bot = bot
        self.sim = sim
        self.session = session

    def url(self, path: str) -> str:
        """An absolute URL of the app."""
        return str(self.bot.make_url(path))

    async def get(self, path: str) -> tuple[int, str]:
        """GET a page of the app; status and HTML."""
        async with self.session.get(self.url(path), allow_redirects=False) as response:
            return response.status, await response.text()

    async def csrf(self) -> str:
        """This browser's CSRF token (from the sign-in page, which any browser may open)."""
        async with self.session.get(self.url("/me/login")) as response:
            return csrf_of(await response.text())

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True
    ) -> aiohttp.ClientResponse:
        """POST a form of the app (with the CSRF token unless told not to)."""
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", await self.csrf())
        async with self.session.post(self.url(path), data=form, allow_redirects=False) as r:
            await r.read()
            return r

    async def sign_in(self, employee_code: str, secret: str) -> aiohttp.ClientResponse:
        """Submit the sign-in form."""
        return await self.post("/me/login", {"employee_code": employee_code, "secret": secret})

    async def first_sign_in(self, employee: Employee, password: str = PASSWORD) -> None:
        """The first visit: a registration code, then a password."""
        issued = await issue_registration_code(employee)
        response = await self.sign_in(employee.code, issued.code)
        assert response.status == 303, response.status
        assert response.headers["Location"] == "/me/password"
        response = await self.post("/me/password", {"password": password, "confirm": password})
        assert response.status == 303, await response.text()

    async def start_line_login(self) -> str:
        """Tap LINE ID連携; return the LINE authorization URL the page sends the browser to."""
        response = await self.post("/me/line/start")
        assert response.status == 303, response.status
        return response.headers["Location"]

    async def authorize(
        self, authorize_url: str, user_id: str, *, add_friend: bool = True, action: str = "allow"
    ) -> str:
        """On LINE's page: open it, pick the LINE user, tick (or not) 友だち追加 and allow;
        return where LINE sends the browser back."""
        async with self.session.get(authorize_url, allow_redirects=False) as page:
            assert page.status == 200, await page.text()
        fields = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        fields.update({"user": user_id, "action": action})
        if add_friend:
            fields["add_friend"] = "1"
        endpoint = authorize_url.split("?", 1)[0]
        async with self.session.post(endpoint, data=fields, allow_redirects=False) as response:
            assert response.status == 302, await response.text()
            return response.headers["Location"]

    async def open(self, url: str) -> tuple[int, str, str | None]:
        """GET a URL (such as the callback); status, HTML and the redirect's Location."""
        async with self.session.get(url, allow_redirects=False) as response:
            return response.status, await response.text(), response.headers.get("Location")

    async def link_line(self, user_id: str, *, add_friend: bool = True) -> tuple[int, str]:
        """LINE ID連携 from the page, all the way back to it; the callback's status and
        HTML (or Location when it redirects)."""
        callback = await self.authorize(
            await self.start_line_login(), user_id, add_friend=add_friend
        )
        status, html, location = await self.open(callback)
        return status, location or html


@pytest.fixture
async def phone(bot: TestServer, sim: Simulator) -> AsyncIterator[EmployeePhone]:
    """A fresh cookie-keeping phone browser."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield EmployeePhone(bot, sim, session)


def query(url: str) -> dict[str, str]:
    """A URL's query as a flat dict."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
async def menus(sim: Simulator, bot: TestServer) -> dict[str, str]:
    """Every rich menu synced to the local platform: {kind: LINE rich menu ID} (`unlinked`,
    `linked`, and the English `unlinked_en`, `linked_en`)."""
    from bot import richmenus
    from bot.keys import LINE
    from bot.richmenu_spec import MENUS
    from domain import rich_menus

    await richmenus.sync(bot.app[LINE])
    return {spec.kind: (await rich_menus.current(spec.kind)).rich_menu_id for spec in MENUS}


def menu_seen(sim: Simulator, user_id: str) -> str | None:
    """The rich menu the user sees in LINE."""
    menu = sim.richmenus.menu_of(user_id)
    return menu.rich_menu_id if menu is not None else None
