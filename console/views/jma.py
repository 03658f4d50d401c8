"""Maintainer pages for automatic alerts from JMA bulletins: the rules (add, delete, and the
"test this rule" button that runs a bulletin through a rule and shows whom it would reach,
sending nothing), the latest events and bulletins, and each office's prefecture."""

from http import HTTPStatus

from aiohttp import web

from console.auth import requires
from console.keys import VIEWER
from console.render import render
from domain.actors import Actor
from domain.errors import DomainError, NotFound
from domain.i18n import gettext as _
from domain.jma import events, offices, rules
from domain.jma.areas import INTENSITIES, INTENSITY_LABELS, PREFECTURES
from domain.jma.bulletin import MAX_BULLETIN_BYTES
from domain.templates import list_templates
from models import ConsoleRole, JmaEventState

MAINTAINER = ConsoleRole.MAINTAINER
# Marked here, translated where shown (`_(STATES[state])`).
STATES = {
    JmaEventState.SEEN: _("条件外"),
    JmaEventState.PENDING: _("発信待ち"),
    JmaEventState.STARTED: _("発信済み"),
    JmaEventState.SUPPRESSED: _("再通知抑止"),
    JmaEventState.CANCELLED: _("取りやめ"),
    JmaEventState.NO_TARGET: _("対象の事業所なし"),
}
DONE = {
    "added": _("ルールを追加しました。"),
    "deleted": _("ルールを削除しました。"),
    "saved": _("都道府県を保存しました。"),
    "saved_rule": _("ルールを保存しました。"),
}


def _done(request: web.Request) -> str | None:
    found = DONE.get(request.query.get("done", ""))
    return _(found) if found else None


def setup_routes(app: web.Application) -> None:
    """Register this module's named routes."""
    app.router.add_get("/jma", jma_page, name="jma")
    app.router.add_post("/jma/rules", rule_add, name="jma_rule_add")
    app.router.add_get(r"/jma/rules/{id:\d{1,9}}/edit", rule_edit, name="jma_rule_edit")
    app.router.add_post(r"/jma/rules/{id:\d{1,9}}", rule_update, name="jma_rule_update")
    app.router.add_post(r"/jma/rules/{id:\d{1,9}}/delete", rule_delete, name="jma_rule_delete")
    app.router.add_post(r"/jma/rules/{id:\d{1,9}}/test", rule_test, name="jma_rule_test")
    app.router.add_get("/jma/offices", office_list, name="jma_offices")
    app.router.add_post(r"/jma/offices/{id:\d{1,9}}", office_save, name="jma_office_save")


def _draft(form: dict, *, editing: bool = False) -> rules.RuleDraft:
    def number(name: str, default: int) -> int:
        raw = str(form.get(name, "")).strip()
        return int(raw) if raw.isdigit() and len(raw) < 7 else default

    areas = str(form.get("areas", ""))[:5000].replace("、", "\n").replace(",", "\n")
    return rules.RuleDraft(
        name=str(form.get("name", ""))[:200],
        kind=str(form.get("kind", "quake"))[:20],
        min_intensity=str(form.get("min_intensity", ""))[:10],
        areas=tuple(a.strip() for a in areas.splitlines() if a.strip()),
        template=str(form.get("template", ""))[:50],
        offices_only=form.get("offices_only") == "on",
        suppress_minutes=number("suppress_minutes", -1),
        delay_minutes=number("delay_minutes", -1),
        drills=form.get("drills") == "on",
        active=form.get("active") == "on" if editing else True,
    )


async def _page(request: web.Request, status: int = HTTPStatus.OK, **extra: object) -> web.Response:
    context = {
        "rules": [(r, rules.describe(r)) for r in await rules.list_rules()],
        "events": await events.recent_events(30),
        "bulletins": await events.recent_bulletins(30),
        "states": {state: _(label) for state, label in STATES.items()},
        "templates": await list_templates(),
        "intensities": [(i, INTENSITY_LABELS.get(i, i)) for i in INTENSITIES],
        "notice": _done(request),
        "draft": rules.RuleDraft(name="", min_intensity="5-"),
        **extra,
    }
    return render(request, "jma.html", context, status=status)


@requires(MAINTAINER)
async def jma_page(request: web.Request) -> web.Response:
    """Rules, the add form, recent events and bulletins."""
    return await _page(request)


@requires(MAINTAINER)
async def rule_add(request: web.Request) -> web.Response:
    """Add a rule, or show the form again with what is wrong."""
    draft = _draft(dict(await request.post()))
    try:
        await rules.add_rule(Actor.console(request[VIEWER].login), draft)
    except DomainError as exc:
        return await _page(request, HTTPStatus.BAD_REQUEST, error=exc.message, draft=draft)
    raise web.HTTPSeeOther(str(request.app.router["jma"].url_for().with_query(done="added")))


async def _edit_page(
    request: web.Request, rule_id: int, draft: rules.RuleDraft, error: str | None = None
) -> web.Response:
    context = {
        "rule_id": rule_id,
        "draft": draft,
        "error": error,
        "templates": await list_templates(),
        "intensities": [(i, INTENSITY_LABELS.get(i, i)) for i in INTENSITIES],
    }
    return render(
        request,
        "jma_rule_edit.html",
        context,
        status=HTTPStatus.BAD_REQUEST if error else HTTPStatus.OK,
    )


@requires(MAINTAINER)
async def rule_edit(request: web.Request) -> web.Response:
    """The rule's form, filled in."""
    try:
        rule = await rules.find_rule(request.match_info["id"])
    except NotFound as exc:
        raise web.HTTPNotFound(text=exc.message) from None
    await rule.fetch_related("template")
    draft = rules.RuleDraft(
        name=rule.name, kind=rule.kind.value, min_intensity=rule.min_intensity or "",
        areas=tuple(rule.areas), template=rule.template.key if rule.template else "",
        offices_only=rule.offices_only, suppress_minutes=rule.suppress_minutes,
        delay_minutes=rule.delay_minutes, drills=rule.drills, active=rule.active,
    )  # fmt: skip
    return await _edit_page(request, rule.id, draft)


@requires(MAINTAINER)
async def rule_update(request: web.Request) -> web.Response:
    """Save a rule, or show its form again with what is wrong."""
    rule_id = int(request.match_info["id"])
    draft = _draft(dict(await request.post()), editing=True)
    try:
        await rules.update_rule(Actor.console(request[VIEWER].login), rule_id, draft)
    except NotFound as exc:
        raise web.HTTPNotFound(text=exc.message) from None
    except DomainError as exc:
        return await _edit_page(request, rule_id, draft, exc.message)
    raise web.HTTPSeeOther(str(request.app.router["jma"].url_for().with_query(done="saved_rule")))


@requires(MAINTAINER)
async def rule_delete(request: web.Request) -> web.Response:
    """Delete a rule (what it started stays)."""
    try:
        await rules.delete_rule(Actor.console(request[VIEWER].login), int(request.match_info["id"]))
    except NotFound as exc:
        raise web.HTTPNotFound(text=exc.message) from None
    raise web.HTTPSeeOther(str(request.app.router["jma"].url_for().with_query(done="deleted")))


@requires(MAINTAINER)
async def rule_test(request: web.Request) -> web.Response:
    """Run an uploaded bulletin through one rule: whether it fires and whom it would reach;
    nothing is written or sent."""
    try:
        rule = await rules.find_rule(request.match_info["id"])
    except NotFound as exc:
        raise web.HTTPNotFound(text=exc.message) from None
    upload = (await request.post()).get("file")
    if not isinstance(upload, web.FileField):
        return await _page(
            request, HTTPStatus.BAD_REQUEST, error=_("電文のXMLファイルを選んでください。")
        )
    data = upload.file.read(MAX_BULLETIN_BYTES + 1)
    try:
        result = await events.test_rule(rule, data, show=200)
    except DomainError as exc:
        return await _page(request, HTTPStatus.BAD_REQUEST, error=exc.message)
    return await _page(request, tested=(rule, upload.filename, result))


@requires(MAINTAINER)
async def office_list(request: web.Request) -> web.Response:
    """Every department with its prefecture, each settable."""
    return render(
        request,
        "jma_offices.html",
        {
            "offices": await offices.offices(),
            "prefectures": sorted(PREFECTURES.items()),
            "notice": _done(request),
        },
    )


@requires(MAINTAINER)
async def office_save(request: web.Request) -> web.Response:
    """Set (or clear) one department's prefecture."""
    form = await request.post()
    try:
        await offices.set_prefecture(
            Actor.console(request[VIEWER].login),
            int(request.match_info["id"]),
            str(form.get("prefecture", ""))[:10],
        )
    except NotFound as exc:
        raise web.HTTPNotFound(text=exc.message) from None
    except DomainError as exc:
        raise web.HTTPBadRequest(text=exc.message) from None
    raise web.HTTPSeeOther(
        str(request.app.router["jma_offices"].url_for().with_query(done="saved"))
    )
