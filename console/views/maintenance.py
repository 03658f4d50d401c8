"""Console pages for maintainers: templates, usage, the audit log, the organisation's settings."""

from datetime import UTC, date, datetime, time, timedelta
from http import HTTPStatus

from aiohttp import web

from console.auth import requires
from console.keys import VIEWER
from console.render import render
from domain import audit, settings, templates, usage
from domain.admin_groups import bound_groups
from domain.errors import Invalid, NotFound
from domain.i18n import gettext as _
from models import AdminGroup, ConsoleRole
from web.keys import QUOTA, WEB
from web.timefmt import JST

AUDIT_LIMIT = 200
# The audit filter's dates: beyond these a bound (the day after `until`, in UTC) overflows.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9999, 12, 30)

# How the audit log names actions (others are shown as recorded). The labels here and in the
# maps below are marked for the catalogue where they are declared (at import, still Japanese)
# and translated where they are shown: `_(ACTIONS[action])`.
ACTIONS = {
    "sign_in": _("ログイン"),
    "sign_out": _("ログアウト"),
    "password_set": _("パスワード設定"),
    "template_created": _("テンプレート作成"),
    "template_updated": _("テンプレート変更"),
    "settings_changed": _("設定変更"),
    "alert_started": _("発信"),
    "alert_closed": _("終了"),
    "alert_reminded": _("再通知(二次連絡)"),
    "reminded": _("再送(二次連絡)"),
    "answers_exported": _("回答のCSV出力"),
    "answer_entered_for": _("代理回答"),
    "line_halted": _("LINE送信停止"),
    "employees_export": _("社員エクスポート"),
    "employees_import": _("社員インポート"),
    "employee_add": _("社員の追加"),
    "employee_update": _("社員情報の変更"),
    "employee_deactivate": _("社員の無効化"),
    "codes_issue": _("登録コード発行"),
    "codes_revoke": _("登録コード失効"),
    "email_add": _("メールアドレス追加"),
    "email_switch": _("メールアドレスの有効・無効"),
    "email_remove": _("メールアドレス削除"),
    "email_confirm_sent": _("メールアドレス確認メール送信"),
    "email_confirm": _("メールアドレス確認"),
    "line_link": _("LINE ID連携"),
    "line_unlink": _("LINE連携解除"),
    "family_add": _("家族の登録"),
    "family_edit": _("家族情報の変更"),
    "family_remove": _("家族の削除"),
    "family_code_issue": _("家族のLINE登録コード発行"),
    "family_line_link": _("家族のLINE登録"),
    "family_answer": _("家族の回答"),
    "family_answer_for": _("家族の代理回答(社員)"),
    "family_email_confirm": _("家族のメールアドレス確認"),
    "family_email_confirm_sent": _("家族への確認メール送信"),
    "user_add": _("ユーザー追加"),
    "user_passwd": _("パスワード変更"),
    "user_disable": _("ユーザー無効化"),
    "user_enable": _("ユーザー再有効化"),
    "user_update": _("ユーザー情報の変更"),
    "group_bind_code_issued": _("管理グループ登録コード発行"),
    "group_bind": _("管理グループ登録"),
    "group_unbind": _("管理グループ解除"),
    "group_help": _("管理グループ: ヘルプ"),
    "group_drill": _("管理グループ: 訓練(確認)"),
    "group_alert": _("管理グループ: 発信(確認)"),
    "group_confirm": _("管理グループ: 実行"),
    "group_cancel": _("管理グループ: 取消"),
    "group_status": _("管理グループ: 状況"),
    "group_remind": _("管理グループ: 再通知"),
    "group_close": _("管理グループ: 終了"),
    "group_list": _("管理グループ: 一覧"),
    "group_post": _("管理グループ: 掲示板に投稿(確認)"),
    "board_posted": _("掲示板に投稿"),
    "board_replied": _("掲示板に返信"),
    "board_exported": _("掲示板のCSV出力"),
    "group_unknown": _("管理グループ: 不明なコマンド"),
    "jma_rule_add": _("気象庁連携: ルール追加"),
    "jma_rule_edit": _("気象庁連携: ルール変更"),
    "jma_rule_delete": _("気象庁連携: ルール削除"),
    "jma_alert_started": _("気象庁連携: 自動発信"),
    "jma_alert_delayed": _("気象庁連携: 発信待ち"),
    "jma_suppressed": _("気象庁連携: 再通知抑止"),
    "jma_start_anyway": _("気象庁連携: 抑止中の発信"),
    "jma_alert_cancelled": _("気象庁連携: 自動発信の取りやめ"),
    "jma_withdrawn": _("気象庁連携: 取消電文"),
    "database_backup": _("データベースのバックアップ"),
    "answers_purged": _("保存期間を過ぎた回答の削除"),
    "line_data_purged": _("保存期間を過ぎたLINE情報の削除"),
    "language_set": _("表示言語の変更"),
    "language_reported": _("表示言語の自動設定(LINEの言語)"),
    "department_prefecture": _("部署の都道府県"),
    "departments_prefecture_import": _("部署の都道府県インポート"),
}
VIAS = {
    "line": "LINE",
    "group": _("管理グループ"),
    "console": _("管理画面"),
    "me": _("社員ページ"),
    "cli": _("コマンド"),
    "system": _("システム"),
}
# How the audit log names the keys of an action's details.
DETAIL_NAMES = {
    "drill": _("訓練"),
    "template": _("テンプレート"),
    "departments": _("部署"),
    "recipients": _("対象"),
    "round": _("再通知の回"),
    "line": "LINE",
    "email": _("メール"),
    "rows": _("行数"),
    "scoped": _("部署を限定"),
    "alert": _("連絡"),
    "answered": _("回答"),
    "total": _("対象"),
    "unanswered": _("未回答"),
    "count": _("件数"),
    "stage": _("段階"),
    "command": _("コマンド"),
    "ttl_minutes": _("有効期限(分)"),
    "admin_group": _("管理グループ"),
    "by": _("操作者"),
    "reason": _("理由"),
    "failed": _("失敗"),
    "id": "ID",
    "changed": _("変更した項目"),
    "employee": _("社員番号"),
    "why": _("理由"),
    "replaced": _("別のアカウントから切り替え"),
    "via": _("方法"),
    "own_message": _("独自の連絡メッセージ"),
    "new": _("新規"),
    "updated": _("更新"),
    "unchanged": _("変更なし"),
    "deactivated": _("無効化"),
    "post": _("投稿"),
    "posts": _("投稿数"),
    "reply": _("返信"),
    "replies": _("返信"),
    "board": _("掲示板"),
}
DETAIL_VALUES = {
    "confirmation": _("確認待ち"),
    "drill": _("訓練"),
    "alert": _("本番"),
    "code": _("登録コード"),
    "password": _("パスワード"),
}


def _value(value: object) -> str:
    if value is True:
        return _("はい")
    if value is False:
        return _("いいえ")
    if isinstance(value, list):
        return _("、").join(_value(v) for v in value) or _("なし")
    if isinstance(value, dict):
        return describe(value)
    found = DETAIL_VALUES.get(str(value))
    return _(found) if found else str(value)


def describe(detail: dict | None) -> str:
    """An audit row's details as readable Japanese (名前: 値 / …)."""
    if not detail:
        return ""
    return " / ".join(f"{_name(k)}: {_value(v)}" for k, v in detail.items())


def _name(key: str) -> str:
    found = DETAIL_NAMES.get(key)
    return _(found) if found else key


def _target(target: str, groups: dict[str, str]) -> str:
    """An audit row's target in words: 連絡 #12, an admin group by its name."""
    if target.startswith("alert:") and target[6:].isdigit():
        return _("連絡 #%(number)s", number=target[6:])
    return groups.get(target, target)


RESULTS = {"ok": _("成功"), "failed": _("失敗"), "refused": _("拒否")}


# The template form's delivery fields and how much of each is read.
DELIVERY_FIELDS = {
    "email_mode": 20,
    "fallback_delay_minutes": 20,
    "reminder_interval_minutes": 20,
    "reminder_max": 20,
    "follow_up_message": 5000,
}


def _draft(form: dict) -> templates.TemplateDraft:
    blank = templates.TemplateDraft()
    return templates.TemplateDraft(
        key=str(form.get("key", ""))[:100],
        title=str(form.get("title", ""))[:1000],
        message=str(form.get("message", ""))[:10000],
        items_text=str(form.get("items", ""))[:20000],
        title_en=str(form.get("title_en", ""))[:1000],
        message_en=str(form.get("message_en", ""))[:10000],
        items_en_text=str(form.get("items_en", ""))[:20000],
        line_enabled=form.get("line_enabled") == "on",
        email_enabled=form.get("email_enabled") == "on",
        family=form.get("family") == "on",
        # A form without these fields (an older page) keeps the defaults.
        **{
            name: str(form.get(name, getattr(blank, name)))[:limit]
            for name, limit in DELIVERY_FIELDS.items()
        },
    )


def _template_id(request: web.Request) -> int:
    raw = request.match_info["template_id"]
    if not raw.isdigit() or len(raw) > 9:
        raise NotFound(_("テンプレートが見つかりません。"))
    return int(raw)


def _form_page(
    request: web.Request,
    draft: templates.TemplateDraft,
    template_id: int | None,
    error: Invalid | None = None,
) -> web.Response:
    return render(
        request,
        "templates_form.html",
        {
            "draft": draft,
            "template_id": template_id,
            "error": error.message if error else None,
            "field_errors": error.fields if error else {},
            "email_on": request.config_dict[WEB].email_on,
        },
        status=HTTPStatus.BAD_REQUEST if error else HTTPStatus.OK,
    )


@requires(ConsoleRole.MAINTAINER)
async def template_list(request: web.Request) -> web.Response:
    """Every template with its items and contact media."""
    rows = await templates.list_templates()
    notice = {
        "created": _("テンプレートを作成しました。"),
        "saved": _("テンプレートを保存しました。"),
    }
    return render(
        request,
        "templates.html",
        {
            "templates": rows,
            "notice": notice.get(request.query.get("done", "")),
            "email_on": request.config_dict[WEB].email_on,
        },
    )


@requires(ConsoleRole.MAINTAINER)
async def template_new(request: web.Request) -> web.Response:
    """An empty editor."""
    return _form_page(request, templates.TemplateDraft(), None)


@requires(ConsoleRole.MAINTAINER)
async def template_create(request: web.Request) -> web.Response:
    """Create a template, or show the form again with the input and what is wrong."""
    draft = _draft(dict(await request.post()))
    try:
        await templates.create_template(draft, request[VIEWER].actor)
    except Invalid as exc:
        return _form_page(request, draft, None, exc)
    url = request.app.router["templates"].url_for().with_query(done="created")
    raise web.HTTPSeeOther(str(url))


@requires(ConsoleRole.MAINTAINER)
async def template_edit(request: web.Request) -> web.Response:
    """The editor filled with a stored template."""
    template = await templates.get_template(_template_id(request))
    return _form_page(request, templates.draft_of(template), template.id)


@requires(ConsoleRole.MAINTAINER)
async def template_update(request: web.Request) -> web.Response:
    """Save a template, or show the form again with the input and what is wrong."""
    template_id = _template_id(request)
    draft = _draft(dict(await request.post()))
    try:
        await templates.update_template(template_id, draft, request[VIEWER].actor)
    except Invalid as exc:
        return _form_page(request, draft, template_id, exc)
    url = request.app.router["templates"].url_for().with_query(done="saved")
    raise web.HTTPSeeOther(str(url))


@requires(ConsoleRole.MAINTAINER)
async def usage_page(request: web.Request) -> web.Response:
    """This month's billable messages by day, cost, projection and LINE's own figures."""
    report = await usage.usage_report(request.config_dict.get(QUOTA))
    return render(request, "usage.html", {"report": report, "packs": settings.PACKS})


def _day(value: str) -> date | None:
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    return day if day is None or FIRST_DAY <= day <= LAST_DAY else None


def _group_label(group: AdminGroup) -> str:
    """An admin group as the audit log names it: by its LINE name when known."""
    if group.name:
        return _("管理グループ「%(name)s」(登録: %(by)s)", name=group.name, by=group.bound_by)
    return _("管理グループ #%(id)s(登録: %(by)s)", id=group.id, by=group.bound_by)


@requires(ConsoleRole.MAINTAINER)
async def audit_page(request: web.Request) -> web.Response:
    """The audit log, newest first, filtered by who and by Japan dates (inclusive)."""
    actor = request.query.get("actor", "").strip()[:100]
    since_raw, until_raw = request.query.get("since", ""), request.query.get("until", "")
    since, until = _day(since_raw), _day(until_raw)
    error = None
    if (since_raw and since is None) or (until_raw and until is None):
        error = _(
            "日付はYYYY-MM-DDの形式で、%(first)s年から%(last)s年までの範囲で入力してください。",
            first=FIRST_DAY.year,
            last=LAST_DAY.year,
        )
    # Bounds in UTC: SQLite compares stored moments as text, so the offset must match.
    query = audit.AuditFilter(
        actor=actor,
        since=datetime.combine(since, time(), JST).astimezone(UTC) if since else None,
        until=(
            datetime.combine(until + timedelta(days=1), time(), JST).astimezone(UTC)
            if until
            else None
        ),
        limit=AUDIT_LIMIT,
    )
    rows = await audit.entries(query)
    groups = {g.group_id: _group_label(g) for g in await bound_groups()}
    return render(
        request,
        "audit.html",
        {
            "rows": [
                {
                    "at": row.at,
                    "via": _(VIAS[row.via]) if row.via in VIAS else row.via,
                    "actor": row.actor,
                    "action": _(ACTIONS[row.action]) if row.action in ACTIONS else row.action,
                    "target": _target(row.target, groups),
                    "result": row.result,
                    "detail": describe(row.detail),
                }
                for row in rows
            ],
            "actor": actor,
            "since": since_raw if since else "",
            "until": until_raw if until else "",
            "limit": AUDIT_LIMIT,
            "actions": ACTIONS,
            "results": {result: _(label) for result, label in RESULTS.items()},
            "error": error,
        },
    )


@requires(ConsoleRole.MAINTAINER)
async def settings_page(request: web.Request) -> web.Response:
    """連絡先情報閲覧可 and the monthly pack."""
    row = await settings.get_settings()
    notice = _("設定を保存しました。") if request.query.get("done") == "saved" else None
    return render(
        request, "settings.html", {"settings": row, "packs": settings.PACKS, "notice": notice}
    )


@requires(ConsoleRole.MAINTAINER)
async def settings_update(request: web.Request) -> web.Response:
    """Change the settings; the change is written to the audit log."""
    form = await request.post()
    viewable = form.get("contact_info_viewable") == "on"
    pack_raw = str(form.get("monthly_pack", ""))
    pack = int(pack_raw) if pack_raw.isdigit() and len(pack_raw) < 9 else 0
    try:
        await settings.update_settings(
            contact_info_viewable=viewable,
            monthly_pack=pack,
            actor=request[VIEWER].actor,
            family_visible=form.get("family_visible") == "on",
        )
    except Invalid as exc:
        before = await settings.get_settings()
        return render(
            request,
            "settings.html",
            {"settings": before, "packs": settings.PACKS, "error": exc.message},
            status=HTTPStatus.BAD_REQUEST,
        )
    raise web.HTTPSeeOther(str(request.app.router["settings"].url_for().with_query(done="saved")))


def setup_routes(app: web.Application) -> None:
    """Register this module's named routes."""
    app.router.add_get("/templates", template_list, name="templates")
    app.router.add_get("/templates/new", template_new, name="template_new")
    app.router.add_post("/templates/new", template_create, name="template_create")
    app.router.add_get("/templates/{template_id}", template_edit, name="template_edit")
    app.router.add_post("/templates/{template_id}", template_update, name="template_update")
    app.router.add_get("/usage", usage_page, name="usage")
    app.router.add_get("/audit", audit_page, name="audit")
    app.router.add_get("/settings", settings_page, name="settings")
    app.router.add_post("/settings", settings_update, name="settings_update")
