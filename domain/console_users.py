"""Console users: adding them, passwords (argon2, off the loop), signing in with a lockout
that expires, and what each may see."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain import throttle
from domain.audit import Actor, audited, log_action
from domain.errors import Conflict, Invalid, NotFound
from domain.hashing import hash_secret, verify_secret
from domain.passwords import check_strength
from domain.scope import Scope
from models import ConsoleRole, ConsoleUser, Department

LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9._@-]{3,64}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 200
# After SIGN_IN_LIMIT failures within SIGN_IN_WINDOW, sign-in pauses for SIGN_IN_BACKOFF.
SIGN_IN_LIMIT = 5
SIGN_IN_WINDOW = timedelta(minutes=15)
SIGN_IN_BACKOFF = timedelta(minutes=15)
SIGN_IN_FAILED = "ログインIDまたはパスワードが正しくありません。"


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the console, and what they may see."""

    user_id: int
    login: str
    name: str
    role: ConsoleRole
    scope: Scope

    def may(self, *roles: ConsoleRole) -> bool:
        """Whether the viewer has one of these roles (a maintainer may do everything)."""
        return self.role is ConsoleRole.MAINTAINER or self.role in roles

    @property
    def actor(self) -> Actor:
        """The viewer as the audit log names them."""
        return Actor.console(self.login)


def _password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Invalid(
            f"パスワードは{MIN_PASSWORD}文字以上{MAX_PASSWORD}文字以内にしてください。",
            code="invalid_password",
        )
    check_strength(password)
    return password


async def add_user(
    login: str,
    name: str,
    password: str,
    role: ConsoleRole,
    departments: list[Department],
    actor: Actor,
) -> ConsoleUser:
    """Create a console user; a supervisor needs at least one department."""
    login = login.strip()
    async with audited(actor, "user_add", target=login):
        return await _add_user(login, name, password, role, departments)


async def _add_user(
    login: str, name: str, password: str, role: ConsoleRole, departments: list[Department]
) -> ConsoleUser:
    if not LOGIN_PATTERN.match(login):
        raise Invalid(
            "ログインIDは英数字と . _ @ - の3〜64文字にしてください。", code="invalid_login"
        )
    if role is ConsoleRole.SUPERVISOR and not departments:
        raise Invalid("集計権限者には部署を1つ以上指定してください。", code="no_department")
    if await ConsoleUser.exists(login=login):
        raise Conflict(f"ログインID {login} はすでに使われています。", code="login_taken")
    user = await ConsoleUser.create(
        login=login,
        name=name.strip() or login,
        password_hash=await hash_secret(_password(password)),
        role=role,
    )
    if departments:
        await user.departments.add(*departments)
    return user


async def find_user(login: str) -> ConsoleUser:
    """A console user by login."""
    user = await ConsoleUser.get_or_none(login=login.strip())
    if user is None:
        raise NotFound(f"ログインID {login} のユーザーはいません。", code="no_user")
    return user


async def set_password(login: str, password: str, actor: Actor) -> None:
    """Give a user a new password (and lift any sign-in pause)."""
    async with audited(actor, "user_passwd", target=login.strip()):
        user = await find_user(login)
        user.password_hash = await hash_secret(_password(password))
        await user.save(update_fields=["password_hash"])
        await throttle.clear(_key(user.login))


async def disable_user(login: str, actor: Actor) -> None:
    """The user can no longer sign in; open sessions end at their next request."""
    async with audited(actor, "user_disable", target=login.strip()):
        user = await find_user(login)
        user.active = False
        await user.save(update_fields=["active"])


def _key(login: str) -> str:
    return f"console:{login.lower()}"


async def sign_in(login: str, password: str) -> Viewer:
    """Check a login and password, audited under that login. Failures count against the
    login (then a pause that expires, Throttled); unknown, disabled and wrong answer
    alike. The count is kept outside the audited transaction: a failure must not undo it."""
    actor = Actor.console(login.strip()[:64])
    login = actor.name
    async with throttle.sign_in_check(actor):
        await throttle.reserve_attempt(_key(login), SIGN_IN_LIMIT, SIGN_IN_WINDOW, SIGN_IN_BACKOFF)
        user = await ConsoleUser.get_or_none(login=login, active=True) if login else None
        if not await verify_secret(user.password_hash if user else None, password[:MAX_PASSWORD]):
            raise Invalid(SIGN_IN_FAILED, code="sign_in_failed")
    assert user is not None
    await throttle.clear(_key(login))
    async with audited(actor, "sign_in"):
        user.last_login_at = datetime.now(UTC)
        await user.save(update_fields=["last_login_at"])
        return await viewer(user.id)


async def sign_out(signed_in: Viewer) -> None:
    """Record that a user signed out (the session itself is the face's)."""
    await log_action(signed_in.actor, "sign_out")


async def viewer(user_id: int) -> Viewer:
    """The active user with this ID as a Viewer; NotFound once disabled or gone."""
    user = await ConsoleUser.get_or_none(id=user_id, active=True)
    if user is None:
        raise NotFound("ユーザーが見つかりません。", code="no_user")
    if user.role is ConsoleRole.SUPERVISOR:
        ids = await user.departments.all().values_list("id", flat=True)
        scope = await Scope.departments(list(ids))
    else:
        scope = Scope.everything()
    return Viewer(user.id, user.login, user.name, user.role, scope)
