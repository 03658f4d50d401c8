"""Console users: adding them, passwords (argon2, off the loop), signing in (failures pause
the guesser's address, never the owner's), sessions ended on the server, and what each may
see."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.expressions import F

from domain import throttle
from domain.actors import Actor, Via
from domain.audit import audited
from domain.errors import Conflict, Invalid, NotFound
from domain.hashing import hash_secret, verify_secret
from domain.i18n import DEFAULT_LANGUAGE, LANGUAGES
from domain.i18n import gettext as _
from domain.passwords import check_strength
from domain.scope import Scope
from models import ConsoleRole, ConsoleUser, Department

LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9._@-]{3,64}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 200


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the console, and what they may see."""

    user_id: int
    login: str
    name: str
    role: ConsoleRole
    scope: Scope
    generation: int  # the user's session generation when this was read
    language: str = DEFAULT_LANGUAGE  # the console's language for this user

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
            _(
                "パスワードは%(min)s文字以上%(max)s文字以内にしてください。",
                min=MIN_PASSWORD,
                max=MAX_PASSWORD,
            ),
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
            _("ログインIDは英数字と . _ @ - の3〜64文字にしてください。"), code="invalid_login"
        )
    if role is ConsoleRole.SUPERVISOR and not departments:
        raise Invalid(_("集計権限者には部署を1つ以上指定してください。"), code="no_department")
    if await ConsoleUser.exists(login=login):
        raise Conflict(
            _("ログインID %(login)s はすでに使われています。", login=login), code="login_taken"
        )
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
        raise NotFound(
            _("ログインID %(login)s のユーザーはいません。", login=login), code="no_user"
        )
    return user


async def set_password(login: str, password: str, actor: Actor) -> None:
    """Give a user a new password (and lift any sign-in pause)."""
    async with audited(actor, "user_passwd", target=login.strip()):
        user = await find_user(login)
        user.password_hash = await hash_secret(_password(password))
        await user.save(update_fields=["password_hash"])
        await end_sessions(user.id)
        await throttle.clear_account(_key(user.login))


async def disable_user(login: str, actor: Actor) -> None:
    """The user can no longer sign in; open sessions end at their next request. From the
    console, never oneself nor the last active maintainer (nobody could manage users any
    more); the CLI, the operator's way back in, may."""
    async with audited(actor, "user_disable", target=login.strip()):
        user = await find_user(login)
        if actor.via is Via.CONSOLE:
            await _check_may_disable(user, actor)
        user.active = False
        await user.save(update_fields=["active"])
        await end_sessions(user.id)


async def end_sessions(user_id: int) -> None:
    """End every session the user has open, at its next request (a new session generation):
    for sign-out, a new password, disabling and a change of role."""
    await ConsoleUser.filter(id=user_id).update(session_generation=F("session_generation") + 1)


# Managing users from the console: each change is one audited function.


@dataclass(frozen=True)
class UserRow:
    """A console user as the users page lists them."""

    id: int
    login: str
    name: str
    role: ConsoleRole
    active: bool
    department_ids: tuple[int, ...]
    last_login_at: datetime | None


async def list_users() -> list[UserRow]:
    """Every console user, active first, by login."""
    users = await ConsoleUser.all().prefetch_related("departments").order_by("-active", "login")
    return [
        UserRow(
            u.id,
            u.login,
            u.name,
            u.role,
            u.active,
            tuple(sorted(d.id for d in u.departments)),
            u.last_login_at,
        )
        for u in users
    ]


async def _check_may_disable(user: ConsoleUser, actor: Actor) -> None:
    if actor.name == user.login:
        raise Conflict(_("自分自身は無効にできません。"), code="disable_self")
    if user.role is ConsoleRole.MAINTAINER and not await _other_active_maintainers(user):
        raise Conflict(_("最後のメンテナンス担当者は無効にできません。"), code="last_maintainer")


async def _other_active_maintainers(user: ConsoleUser) -> bool:
    query = ConsoleUser.filter(role=ConsoleRole.MAINTAINER, active=True).exclude(id=user.id)
    return await query.exists()


async def update_user(
    login: str, *, name: str, role: ConsoleRole, departments: list[Department], actor: Actor
) -> ConsoleUser:
    """Change a user's name, role and departments (a supervisor needs one; a sender with
    departments sees and sends only within them); a role change ends their sessions. The
    last active maintainer keeps the role."""
    async with audited(actor, "user_update", target=login.strip()) as entry:
        user = await find_user(login)
        if role is ConsoleRole.SUPERVISOR and not departments:
            raise Invalid(_("集計権限者には部署を1つ以上指定してください。"), code="no_department")
        demoted = user.role is ConsoleRole.MAINTAINER and role is not ConsoleRole.MAINTAINER
        if demoted and user.active and not await _other_active_maintainers(user):
            raise Conflict(
                _("最後のメンテナンス担当者の役割は変えられません。"), code="last_maintainer"
            )
        fields = ["name", "role"]
        if role is not user.role:
            user.session_generation += 1
            fields.append("session_generation")
        user.name = name.strip()[:100] or user.login
        user.role = role
        await user.save(update_fields=fields)
        await user.departments.clear()
        if departments:
            await user.departments.add(*departments)
        entry.detail = {"role": role.value, "departments": sorted(d.id for d in departments)}
    return user


async def enable_user(login: str, actor: Actor) -> None:
    """Let a disabled user sign in again."""
    async with audited(actor, "user_enable", target=login.strip()):
        user = await find_user(login)
        user.active = True
        await user.save(update_fields=["active"])


async def find_departments_by_id(ids: list[int]) -> list[Department]:
    """Departments by ID, for a user's scope; an unknown ID is Invalid."""
    found = await Department.filter(id__in=ids) if ids else []
    if len(found) != len(set(ids)):
        raise Invalid(_("部署が見つかりません。"), code="no_department")
    return list(found)


def _key(login: str) -> str:
    return f"console:{login.lower()}"


async def sign_in(login: str, password: str, address: str) -> Viewer:
    """Check a login and password from a client address, audited under that login, by the
    sign-in rule of domain.throttle (unknown, disabled and wrong answer alike). The counts
    are kept outside the audited transaction: a failure must not undo them."""
    actor = Actor.console(login.strip()[:64])
    login = actor.name
    async with throttle.sign_in_check(actor, _key(login), address):
        user = await ConsoleUser.get_or_none(login=login, active=True) if login else None
        if not await verify_secret(user.password_hash if user else None, password[:MAX_PASSWORD]):
            raise Invalid(
                _("ログインIDまたはパスワードが正しくありません。"), code="sign_in_failed"
            )
    assert user is not None
    async with audited(actor, "sign_in"):
        user.last_login_at = datetime.now(UTC)
        await user.save(update_fields=["last_login_at"])
        return await viewer(user.id)


async def sign_out(signed_in: Viewer) -> None:
    """Sign the user out everywhere: every session they have open ends."""
    async with audited(signed_in.actor, "sign_out"):
        await end_sessions(signed_in.user_id)


async def viewer(user_id: int, generation: int | None = None) -> Viewer:
    """The active user with this ID as a Viewer; NotFound once disabled or gone, or when
    `generation` (a session's) is older than the user's sessions."""
    user = await ConsoleUser.get_or_none(id=user_id, active=True)
    if user is None or generation not in (None, user.session_generation):
        raise NotFound(_("ユーザーが見つかりません。"), code="no_user")
    ids = []
    if user.role is not ConsoleRole.MAINTAINER:
        ids = await user.departments.all().values_list("id", flat=True)
    # A supervisor always sees their departments only; a sender too once departments are set.
    if user.role is ConsoleRole.SUPERVISOR or ids:
        scope = await Scope.departments(list(ids))
    else:
        scope = Scope.everything()
    return Viewer(
        user.id,
        user.login,
        user.name,
        user.role,
        scope,
        user.session_generation,
        user.language if user.language in LANGUAGES else DEFAULT_LANGUAGE,
    )


async def set_own_language(signed_in: Viewer, language: str) -> str:
    """The language the console speaks to the signed-in user from their next page on; only
    one of domain.i18n.LANGUAGES, given exactly."""
    async with audited(signed_in.actor, "language_set", target=signed_in.login) as entry:
        if language not in LANGUAGES:
            raise Invalid(_("言語を選んでください。"), code="invalid_language")
        await ConsoleUser.filter(id=signed_in.user_id).update(language=language)
        entry.detail = {"language": language}
    return language
