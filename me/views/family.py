"""The 家族 section of the employee page: register, edit and remove family members, issue a
family member's one-time LINE code (shown once), and answer for them."""

from aiohttp import web

from domain import family
from domain.actors import Actor
from domain.errors import Invalid, Throttled
from domain.i18n import gettext as _
from me.auth import signed_in
from me.keys import EMPLOYEE
from me.render import url
from me.views.page import confirmations_for, render_home, sent_notice


def _number(raw: object) -> int:
    value = str(raw or "")
    if not value.isdigit() or len(value) > 9:
        raise Invalid(_("家族を指定してください。"))
    return int(value)


def _fields(form: object) -> tuple[str, str, str]:
    get = form.get  # type: ignore[attr-defined]
    return (
        str(get("name", ""))[:200],
        str(get("relation", ""))[:100],
        str(get("email", ""))[:300],
    )


@signed_in()
async def add(request: web.Request) -> web.Response:
    """Register a family member."""
    employee = request[EMPLOYEE]
    form = await request.post()
    name, relation, email = _fields(form)
    try:
        saved = await family.add_member(
            employee.id, name, relation, email, Actor.me(employee.code), confirmations_for(request)
        )
    except (Invalid, Throttled) as exc:
        return await render_home(request, family_error=exc.message)
    sent = saved.confirmation_sent
    done = sent_notice(request, sent) if sent is not None else "family"
    raise web.HTTPSeeOther(url(request, "home", done=done) + "#family")


@signed_in()
async def edit(request: web.Request) -> web.Response:
    """Change a family member's name, relation or e-mail."""
    employee = request[EMPLOYEE]
    form = await request.post()
    name, relation, email = _fields(form)
    try:
        saved = await family.update_member(
            employee.id, _number(form.get("member_id")), name, relation, email,
            Actor.me(employee.code), confirmations_for(request),
        )  # fmt: skip
    except (Invalid, Throttled) as exc:
        return await render_home(request, family_error=exc.message)
    sent = saved.confirmation_sent
    done = sent_notice(request, sent) if sent is not None else "family"
    raise web.HTTPSeeOther(url(request, "home", done=done) + "#family")


@signed_in()
async def email_resend(request: web.Request) -> web.Response:
    """E-mail a family member's unconfirmed address its confirmation link again."""
    employee = request[EMPLOYEE]
    form = await request.post()
    try:
        sent = await family.resend_confirmation(
            employee.id, _number(form.get("member_id")), Actor.me(employee.code),
            confirmations_for(request),
        )  # fmt: skip
    except Throttled as exc:
        return await render_home(request, status=429, family_error=exc.message)
    raise web.HTTPSeeOther(url(request, "home", done=sent_notice(request, sent)) + "#family")


@signed_in()
async def remove(request: web.Request) -> web.Response:
    """Remove a family member."""
    employee = request[EMPLOYEE]
    form = await request.post()
    await family.remove_member(employee.id, _number(form.get("member_id")), Actor.me(employee.code))
    raise web.HTTPSeeOther(url(request, "home", done="family") + "#family")


@signed_in()
async def code(request: web.Request) -> web.Response:
    """Issue a family member's LINE code and show it this once (never stored in clear)."""
    employee = request[EMPLOYEE]
    form = await request.post()
    member_id = _number(form.get("member_id"))
    issued = await family.issue_link_code(employee.id, member_id, Actor.me(employee.code))
    return await render_home(request, family_code=issued, family_code_member=member_id)


@signed_in()
async def answer(request: web.Request) -> web.Response:
    """Record a family member's status for an alert (the employee answers for them)."""
    employee = request[EMPLOYEE]
    form = await request.post()
    try:
        await family.answer_for_family(
            employee.id,
            _number(form.get("alert_id")),
            _number(form.get("member_id")),
            family.parse_status(str(form.get("status", ""))),
            str(form.get("message", ""))[: family.MAX_MESSAGE],
            Actor.me(employee.code),
        )
    except Invalid as exc:
        return await render_home(request, family_error=exc.message)
    raise web.HTTPSeeOther(url(request, "home", done="family_answer") + "#family-answers")
