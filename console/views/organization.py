"""Maintainer pages for the organisation: employees (list, search, edit, deactivate, CSV import
with a preview and CSV export) and registration codes (issue, print, revoke)."""

import base64
import binascii
import json
import time
import zlib
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlencode

import segno
from aiohttp import web
from markupsafe import Markup

from console.auth import requires
from console.keys import VIEWER
from console.render import render
from domain import employees as staff
from domain import linking
from domain.errors import Conflict, DomainError, Invalid, NotFound
from domain.i18n import gettext as _
from domain.signing import CONSOLE_IMPORT, sign, unsign
from models import ConsoleRole, EmployeeRole
from web.keys import WEB

IMPORT_TOKEN_SECONDS = 30 * 60  # how long a previewed file may wait for its confirmation
MAX_TTL_DAYS = 90
MAINTAINER = ConsoleRole.MAINTAINER
# A form re-rendered with its errors answers 200, as flaskr does: the browser then logs no
# failed request on a page the maintainer simply has to correct.


def setup_routes(app: web.Application) -> None:
    """Register this module's named routes."""
    app.router.add_get("/employees", employee_list, name="employees")
    app.router.add_get("/employees/new", employee_new, name="employee_new")
    app.router.add_post("/employees/new", employee_add, name="employee_add")
    app.router.add_get("/employees/export", employee_export, name="employees_export")
    app.router.add_get("/employees/import", import_form, name="employees_import")
    app.router.add_post("/employees/import", import_preview, name="employees_import_preview")
    app.router.add_post(
        "/employees/import/confirm", import_confirm, name="employees_import_confirm"
    )
    app.router.add_get(r"/employees/{id:\d+}", employee_form, name="employee_edit")
    app.router.add_post(r"/employees/{id:\d+}", employee_update, name="employee_update")
    app.router.add_post(
        r"/employees/{id:\d+}/deactivate", employee_deactivate, name="employee_deactivate"
    )
    app.router.add_get("/codes", code_list, name="codes")
    app.router.add_post("/codes/issue", codes_issue, name="codes_issue")
    app.router.add_post("/codes/revoke", codes_revoke, name="codes_revoke")


def _to(request: web.Request, name: str, **parts: str) -> str:
    return str(request.app.router[name].url_for(**parts))


@requires(MAINTAINER)
async def employee_list(request: web.Request) -> web.Response:
    """Employees with search; LINE registration as yes/no, the display name only when the
    organisation allows it."""
    viewer = request[VIEWER]
    search = request.query.get("q", "")
    rows = await staff.list_employees(viewer, search)
    return render(
        request,
        "employees.html",
        {
            "employees": rows,
            "q": search,
            "show_names": await staff.may_see_display_names(viewer),
            "notice": _list_notice(request.query),
        },
    )


NEW_FIELDS = ("code", "name", "department", "email", "phone", "role")


@requires(MAINTAINER)
async def employee_new(request: web.Request) -> web.Response:
    """The form adding one employee."""
    return render(request, "employees_new.html", {"form": {}, "fields": {}})


@requires(MAINTAINER)
async def employee_add(request: web.Request) -> web.Response:
    """Add one employee; errors re-render the form with what was typed."""
    form = await request.post()
    typed = {name: str(form.get(name, ""))[:500] for name in NEW_FIELDS}
    try:
        added = await staff.add_employee(actor=request[VIEWER].actor, **typed)
    except (Invalid, Conflict) as exc:
        return render(
            request,
            "employees_new.html",
            {"form": typed, "fields": exc.fields, "error": exc.message},
        )
    raise web.HTTPSeeOther(_to(request, "employees") + "?" + urlencode({"added": added.code}))


def _list_notice(query: Mapping[str, str]) -> str:
    if query.get("added"):
        return _("社員 %(code)s を登録しました。", code=query["added"][:32])
    return _("保存しました。") if query.get("done") else ""


def _employee_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if len(raw) > 9:
        raise NotFound(_("社員が見つかりません。"))
    return int(raw)


@requires(MAINTAINER)
async def employee_form(request: web.Request) -> web.Response:
    """The edit form of one employee."""
    employee = await staff.employee_view(request[VIEWER], _employee_id(request))
    return render(request, "employees_edit.html", _edit_context(employee, {}))


def _edit_context(employee: staff.EmployeeView, fields: dict, **extra: object) -> dict:
    return {"employee": employee, "fields": fields, "roles": list(EmployeeRole), **extra}


@requires(MAINTAINER)
async def employee_update(request: web.Request) -> web.Response:
    """Save the edit form; errors re-render it with what was typed."""
    viewer = request[VIEWER]
    employee_id = _employee_id(request)
    form = await request.post()
    try:
        await staff.update_employee(
            employee_id,
            actor=viewer.actor,
            name=str(form.get("name", "")),
            department=str(form.get("department", "")),
            email=str(form.get("email", "")),
            role=str(form.get("role", "")),
            active=form.get("active") == "1",
            phone=str(form.get("phone", ""))[:100],
        )
    except Invalid as exc:
        employee = await staff.employee_view(viewer, employee_id)
        return render(
            request,
            "employees_edit.html",
            _edit_context(employee, exc.fields, error=exc.message, form=form),
        )
    raise web.HTTPSeeOther(_to(request, "employees") + "?done=1")


@requires(MAINTAINER)
async def employee_deactivate(request: web.Request) -> web.Response:
    """Retire one employee (POST from the edit page)."""
    actor = request[VIEWER].actor
    await staff.deactivate_employee(_employee_id(request), actor=actor)
    raise web.HTTPSeeOther(_to(request, "employees") + "?done=1")


@requires(MAINTAINER)
async def employee_export(request: web.Request) -> web.Response:
    """Every employee as CSV (UTF-8 with BOM), in the import format."""
    data = await staff.export_csv(actor=request[VIEWER].actor)
    return web.Response(
        body=data,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="employees.csv"'},
    )


@requires(MAINTAINER)
async def import_form(request: web.Request) -> web.Response:
    """The upload form."""
    return render(request, "employees_import.html", {"step": "upload"})


def _seal(request: web.Request, data: bytes, deactivate_missing: bool) -> str:
    """A token carrying the previewed file, signed so the confirmation imports exactly it."""
    payload = json.dumps(
        {
            "u": request[VIEWER].user_id,
            "t": int(time.time()),
            "d": deactivate_missing,
            "f": base64.b64encode(zlib.compress(data)).decode(),
        }
    ).encode()
    body = base64.urlsafe_b64encode(payload).decode()
    return sign(request.config_dict[WEB].secret_key, CONSOLE_IMPORT, body)


def _unseal(request: web.Request, token: str) -> tuple[bytes, bool]:
    """The file and option of a token this server signed for this user, not yet too old."""
    body = unsign(request.config_dict[WEB].secret_key, CONSOLE_IMPORT, token)
    if not body:
        raise Invalid(_("取り込みの確認情報が正しくありません。もう一度ファイルを選んでください。"))
    try:
        payload = json.loads(base64.urlsafe_b64decode(body))
        data = zlib.decompress(base64.b64decode(payload["f"]))
    except (ValueError, KeyError, TypeError, binascii.Error, zlib.error):
        raise Invalid(_("取り込みの確認情報が正しくありません。")) from None
    if payload.get("u") != request[VIEWER].user_id:
        raise Invalid(_("取り込みの確認情報が正しくありません。"))
    if time.time() - payload.get("t", 0) > IMPORT_TOKEN_SECONDS:
        raise Invalid(_("確認の有効期限が切れました。もう一度ファイルを選んでください。"))
    return data, bool(payload.get("d"))


@requires(MAINTAINER)
async def import_preview(request: web.Request) -> web.Response:
    """Check an uploaded file: every error by line and column, or what it would change."""
    form = await request.post()
    upload = form.get("file")
    deactivate_missing = form.get("deactivate_missing") == "1"
    if not isinstance(upload, web.FileField):
        return render(
            request,
            "employees_import.html",
            {"step": "upload", "error": _("CSVファイルを選んでください。")},
        )
    data = upload.file.read(staff.MAX_FILE_BYTES + 1)
    try:
        summary = await staff.preview_import(data, deactivate_missing=deactivate_missing)
    except Invalid as exc:
        return render(
            request,
            "employees_import.html",
            {"step": "upload", "error": exc.message},
        )
    context = {"step": "preview", "summary": summary, "filename": upload.filename}
    if summary.valid:
        context["token"] = _seal(request, data, deactivate_missing)
    return render(request, "employees_import.html", context)


def _confirm_count(raw: object) -> int | None:
    text = str(raw or "").strip()
    return int(text) if text.isdigit() and len(text) < 9 else None


@requires(MAINTAINER)
async def import_confirm(request: web.Request) -> web.Response:
    """Import the previewed file, all or nothing, once; retiring many needs the count typed."""
    form = await request.post()
    token = str(form.get("token", ""))
    try:
        data, deactivate_missing = _unseal(request, token)
        summary = await staff.import_employees(
            data,
            actor=request[VIEWER].actor,
            deactivate_missing=deactivate_missing,
            confirm_deactivate=_confirm_count(form.get("confirm_deactivate")),
            confirmation=token,
        )
    except staff.ImportInvalid as exc:
        return render(
            request,
            "employees_import.html",
            {"step": "preview", "summary": staff.ImportSummary(errors=exc.errors)},
        )
    except staff.MassDeactivation as exc:
        return render(
            request,
            "employees_import.html",
            {"step": "preview", "summary": exc.summary, "token": token, "error": exc.message},
        )
    except (Invalid, Conflict) as exc:
        return render(
            request,
            "employees_import.html",
            {"step": "upload", "error": exc.message},
        )
    return render(request, "employees_import.html", {"step": "done", "summary": summary})


@requires(MAINTAINER)
async def code_list(request: web.Request) -> web.Response:
    """Who has LINE registered, who holds an open code; forms to issue and revoke."""
    notice = request.query.get("revoked", "") and _("登録コードを無効にしました。")
    return await _codes_page(request, notice=notice)


async def _codes_page(request: web.Request, **extra: object) -> web.Response:
    """The codes page, with a notice or an error."""
    return render(
        request,
        "codes.html",
        {
            "statuses": await linking.code_statuses(),
            "departments": await staff.department_choices(),
            "default_days": linking.DEFAULT_CODE_TTL.days,
            "max_days": MAX_TTL_DAYS,
            **extra,
        },
    )


def _ttl(raw: object) -> timedelta:
    try:
        days = int(str(raw))
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_TTL_DAYS:
        raise Invalid(_("有効日数は1〜%(days)s日にしてください。", days=MAX_TTL_DAYS))
    return timedelta(days=days)


@requires(MAINTAINER)
async def codes_issue(request: web.Request) -> web.Response:
    """Issue codes for one employee or a department and show the printable sheet (the codes
    are shown this once: only their hashes are kept)."""
    viewer = request[VIEWER]
    form = await request.post()
    try:
        ttl = _ttl(form.get("days", linking.DEFAULT_CODE_TTL.days))
        if form.get("employee_code"):
            employee_code = str(form["employee_code"])[:64]
            issued = [await linking.issue_code_for(employee_code, ttl, viewer.actor)]
        elif str(form.get("department_id", "")).isdigit():
            issued = await linking.issue_codes_for_department(
                int(str(form["department_id"])[:9]),
                only_unlinked=form.get("only_unlinked") == "1",
                ttl=ttl,
                actor=viewer.actor,
            )
        else:
            raise Invalid(_("社員番号か部署を指定してください。"))
    except DomainError as exc:
        return await _codes_page(request, error=exc.message)
    page_url = employee_page_url(request)
    response = render(
        request,
        "codes_sheet.html",
        {"issued": issued, "page_url": page_url, "page_qr": page_qr(page_url)},
    )
    response.headers["Cache-Control"] = "no-store"  # the codes in clear must not linger
    return response


def employee_page_url(request: web.Request) -> str:
    """The employee page as employees reach it (PUBLIC_BASE_URL), printed on the sheet."""
    base = request.config_dict[WEB].public_base_url or str(request.url.origin())
    return f"{base.rstrip('/')}/me/"


def page_qr(url: str) -> Markup:
    """The URL as an inline SVG QR code (medium error correction, survives a crease)."""
    svg = segno.make(url, error="m").svg_inline(scale=4, title="社員ページのQRコード")
    return Markup(svg)  # segno's own markup; the URL inside it is escaped by segno


@requires(MAINTAINER)
async def codes_revoke(request: web.Request) -> web.Response:
    """Revoke an employee's open registration codes."""
    viewer = request[VIEWER]
    form = await request.post()
    raw = str(form.get("employee_id", ""))
    if not raw.isdigit() or len(raw) > 9:
        raise Invalid(_("社員を指定してください。"))
    await linking.revoke_open_codes(int(raw), viewer.actor)
    raise web.HTTPSeeOther(_to(request, "codes") + "?revoked=1")
