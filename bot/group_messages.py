"""What the bot says in an admin group (Japanese), built in one place. Every reply fits
LINE's limits: a text stays within 5,000 UTF-16 units, a Flex altText within 1,500."""

from collections.abc import Callable
from typing import Any

from bot.messages import text
from domain import admin_groups as groups
from domain.alerts import AlertPreview, AlertSummary, Reminder, StartedAlert, display_title
from domain.board import Posted, PostPreview
from domain.delivery_report import DeliveryReport
from domain.family import FamilySummary
from domain.i18n import gettext as _
from domain.jma.triggers import Trigger
from domain.tally import Tally
from models import Alert
from web.timefmt import jst

MAX_TEXT_UTF16 = 5000
# What the confirmation card shows of an alert's message and target departments (a bubble
# must stay within 30 KB).
MAX_MESSAGE_SHOWN = 300
MAX_TARGETS_SHOWN = 500
MAX_REASON_SHOWN = 40  # of a failed delivery's reason in /status
LOWEST_DEPARTMENTS = 3

CONFIRM_ACTION = "group_confirm"
CANCEL_ACTION = "group_cancel"

HELP = """安否確認 管理グループのコマンド(発信権限者のみ):
/help (ヘルプ) … この一覧
/drill [テンプレート] [部署…] [-- メッセージ] (訓練) … 訓練を発信(確認あり)
/alert [テンプレート] [部署…] [-- メッセージ] (発信) … 本番の連絡を発信(確認あり)
/status [番号] (状況) … 回答状況
/remind [番号] [メッセージ] (再通知) … 未回答者だけに再通知
/close [番号] (終了) … 回答の受付を終了
/list (一覧) … 受付中の連絡
/post [番号] メッセージ (投稿) … 連絡の掲示板に投稿し、対象者にLINEで送信(確認あり)

番号を省くと、受付中の最新の連絡が対象です(#12 のようにも書けます)。
テンプレートを省くと既定のテンプレート、部署を省くと全社員が対象です。
「--」のあとに書いた文が連絡メッセージになります(省くとテンプレートの文)。
例: /drill 総務部 -- 本社ビルで火災報知器が鳴りました。"""

UNBOUND_HELP = """このグループはまだ管理グループとして登録されていません。
登録するには、メンテナンス担当者から受け取ったコードを発信権限者が
「/bind コード」と送信してください(例: /bind ABCDE-FGHJK)。"""


def _utf16_length(value: str) -> int:
    return len(value.encode("utf-16-le")) // 2


def fit(body: str, limit: int = MAX_TEXT_UTF16) -> str:
    """Cut a text to LINE's limit (counted in UTF-16 units, as LINE counts), marking the cut."""
    if _utf16_length(body) <= limit:
        return body
    units = 0
    for index, char in enumerate(body):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit - 1:
            return body[:index] + "…"
    return body


def say(body: str) -> list[dict[str, Any]]:
    """One text reply, within LINE's limit."""
    return [text(fit(body))]


def _rate(answered: int, total: int) -> str:
    return f"{answered}/{total} ({100.0 * answered / total if total else 0.0:.1f}%)"


def _alert_name(alert_id: int, title: str, drill: bool) -> str:
    return f"#{alert_id} {display_title(title, drill)}"


def joined() -> list[dict[str, Any]]:
    """What the bot says once when invited to a group."""
    return say("安否確認の公式アカウントです。\n" + UNBOUND_HELP)


def help_text(bound: bool) -> list[dict[str, Any]]:
    """The commands (in an admin group), or how to bind (anywhere else)."""
    return say(HELP if bound else UNBOUND_HELP)


def welcome_member() -> list[dict[str, Any]]:
    """A new member of an admin group is told where to start."""
    return say("管理グループへようこそ。/help でコマンドの一覧を表示します。")


def bound() -> list[dict[str, Any]]:
    """The group has just become an admin group."""
    return say("このグループを管理グループとして登録しました。\n\n" + HELP)


def refused(message: str) -> list[dict[str, Any]]:
    """A command refused or failed: the rule's own words."""
    return say(message)


def confirmation(preview: AlertPreview, token: str) -> list[dict[str, Any]]:
    """The card a sender confirms before an alert starts: drill or real, title, message,
    how many it reaches, and 実行 / 取消 (valid 5 minutes, for the sender who asked)."""
    kind = "訓練" if preview.drill else "本番"
    color = "#1565C0" if preview.drill else "#B71C1C"
    message = preview.message
    if len(message) > MAX_MESSAGE_SHOWN:
        message = message[:MAX_MESSAGE_SHOWN] + "…"
    targets = fit("、".join(d.name for d in preview.departments) or "全社員", MAX_TARGETS_SHOWN)

    def row(label: str, value: str) -> dict[str, Any]:
        return {
            "type": "box",
            "layout": "vertical",
            "margin": "md",
            "contents": [
                {"type": "text", "text": label, "size": "xs", "color": "#888888"},
                {"type": "text", "text": value or "-", "wrap": True, "size": "sm"},
            ],
        }

    def button(label: str, action: str, style: str) -> dict[str, Any]:
        return {
            "type": "button",
            "style": style,
            **({"color": color} if style == "primary" else {}),
            "action": {
                "type": "postback",
                "label": label,
                "data": f"action={action}&token={token}",
                "displayText": label,
            },
        }

    bubble = {
        "type": "bubble",
        "header": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "text",
                    "text": f"{kind}の発信確認",
                    "weight": "bold",
                    "color": color,
                }
            ],
        },
        "body": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                row("種別", kind),
                row("タイトル", preview.title),
                row("連絡メッセージ", message),
                row("対象部署", targets),
                row("対象", f"{preview.recipients}名"),
                {
                    "type": "text",
                    "text": "5分以内に、コマンドを送信した本人が操作してください。",
                    "size": "xs",
                    "color": "#888888",
                    "wrap": True,
                    "margin": "md",
                },
            ],
        },
        "footer": {
            "type": "box",
            "layout": "horizontal",
            "spacing": "md",
            "contents": [
                button("実行", CONFIRM_ACTION, "primary"),
                button("取消", CANCEL_ACTION, "secondary"),
            ],
        },
    }
    alt = f"{kind}の発信確認: {preview.title}(対象 {preview.recipients}名)"
    return [{"type": "flex", "altText": fit(alt, 1500), "contents": bubble}]


def started(result: StartedAlert) -> list[dict[str, Any]]:
    """The confirmed alert has started."""
    alert = result.alert
    return say(
        f"連絡 #{alert.id} を開始しました（対象 {result.recipients}名、"
        f"LINE {result.line_deliveries}名）\n{display_title(alert.title, alert.drill)}"
    )


def cancelled(command: str = "") -> list[dict[str, Any]]:
    """The sender cancelled the command."""
    if command == groups.GroupCommand.POST.value:
        return say(_("掲示板への投稿を取り消しました。"))
    return say("発信を取り消しました。")


def post_confirmation(preview: PostPreview, token: str) -> list[dict[str, Any]]:
    """What a sender confirms before a board post goes out: the alert, the post, whom it
    reaches and how many billable LINE pushes it sends, and 実行 / 取消 (5 minutes)."""
    alert = preview.alert
    body = preview.body
    if len(body) > MAX_MESSAGE_SHOWN:
        body = body[:MAX_MESSAGE_SHOWN] + "…"
    details = _(
        "掲示板への投稿の確認\n%(alert)s\n\n%(body)s\n\n"
        "対象 %(readers)s名・LINEで送信 %(pushes)s通(課金対象、今月これまで %(month)s通 / "
        "%(pack)s通)\n返信: 受け付ける\n"
        "5分以内に、コマンドを送信した本人が操作してください。",
        alert=_alert_name(alert.id, alert.title, alert.drill),
        body=body,
        readers=preview.readers,
        pushes=preview.pushes,
        month=preview.month_messages,
        pack=preview.pack,
    )

    def button(label: str, action: str) -> dict[str, str]:
        return {
            "type": "postback",
            "label": label,
            "data": f"action={action}&token={token}",
            "displayText": label,
        }

    card = {
        "type": "template",
        "altText": fit(_("掲示板への投稿の確認(%(pushes)s通)", pushes=preview.pushes), 400),
        "template": {
            "type": "buttons",
            "text": fit(_("%(pushes)s通をLINEで送信して投稿します。", pushes=preview.pushes), 160),
            "actions": [button("実行", CONFIRM_ACTION), button("取消", CANCEL_ACTION)],
        },
    }
    return [*say(details), card]


def board_posted(posted: Posted) -> list[dict[str, Any]]:
    """The confirmed post is on the board."""
    return say(
        _(
            "連絡 #%(alert)s の掲示板に投稿しました(対象 %(readers)s名、LINEで送信 %(pushes)s通)。",
            alert=posted.post.alert_id,
            readers=posted.readers,
            pushes=posted.pushes,
        )
    )


def status(
    result: Tally,
    closed: bool,
    deliveries: DeliveryReport | None = None,
    trigger: Trigger | None = None,
    family: FamilySummary | None = None,
) -> list[dict[str, Any]]:
    """n/N and %, counts per item and choice, the departments answering least, the
    deliveries that failed (with their reasons), and the JMA bulletin that started it."""
    name = _alert_name(result.alert_id, result.title, result.drill)
    lines = [name + (" (終了)" if closed else "")]
    if trigger is not None:
        lines.append(f"自動発信: {trigger.text}")
    lines.append(f"回答 {_rate(result.answered, result.total)}  未回答 {result.unanswered}名")
    for item in result.items:
        counts = result.choice_counts.get(item.label, {})
        lines.append(f"■{item.label}: " + " / ".join(f"{c} {n}" for c, n in counts.items()))
    lowest = sorted(
        (d for d in result.departments if d.total),
        key=lambda d: (d.answered / d.total, d.name),
    )[:LOWEST_DEPARTMENTS]
    if lowest:
        lines.append("回答率の低い部署:")
        lines += [f"・{d.name} {_rate(d.answered, d.total)}" for d in lowest]
    if family is not None:
        lines.append(family.line())
    if deliveries is not None and deliveries.has_problems:
        lines.append("届かなかった連絡: " + delivery_problems_line(deliveries))
    return say("\n".join(lines))


def delivery_problems_line(report: DeliveryReport, limit: int = 3) -> str:
    """The failed deliveries in one short line: LINE送信失敗 2件(理由)、メール送信失敗 1件(…)"""
    parts = []
    if report.line_halted_at is not None:
        parts.append(f"LINE送信停止({report.line_halted_reason or '上限に達しました'})")
    for problem in report.problems[:limit]:
        reason = problem.reason
        reason = reason if len(reason) <= MAX_REASON_SHOWN else reason[:MAX_REASON_SHOWN] + "…"
        parts.append(
            f"{problem.medium_name}{problem.status_name} {problem.count}件"
            + (f"({reason})" if reason else "")
        )
    rest = sum(p.count for p in report.problems[limit:]) + report.more_problems
    if rest:
        parts.append(f"ほか {rest}件")
    return "、".join(parts) + "(詳細は管理画面の未回答者一覧)"


def reminded(reminder: Reminder) -> list[dict[str, Any]]:
    """How many non-answerers the reminder reaches."""
    alert = reminder.alert
    name = _alert_name(alert.id, alert.title, alert.drill)
    if not reminder.round:
        return say(
            f"{name}\nLINE・e-mailで届く未回答者がいないため、再通知は送信していません"
            f"(未回答 {reminder.unanswered}名)。"
        )
    by_email = f"、e-mailで届く {reminder.email_recipients}名" if reminder.email_recipients else ""
    return say(
        f"{name}\n未回答 {reminder.unanswered}名のうち、LINEで届く "
        f"{reminder.line_deliveries}名{by_email}に再通知しました。"
    )


def closed(alert: Alert, result: Tally) -> list[dict[str, Any]]:
    """The alert no longer accepts answers."""
    name = _alert_name(alert.id, alert.title, alert.drill)
    return say(f"{name}\nを終了しました。回答 {_rate(result.answered, result.total)}")


def open_list(summaries: list[AlertSummary], count: int) -> list[dict[str, Any]]:
    """The alerts still accepting answers, newest first."""
    if not summaries:
        return say("受付中の連絡はありません。")
    lines = [f"受付中の連絡 {count}件:"]
    for s in summaries:
        lines.append(
            f"{_alert_name(s.id, s.title, s.drill)}\n"
            f"  回答 {_rate(s.answered, s.total)}  開始 {jst(s.started_at)}"
        )
    if count > len(summaries):
        lines.append(f"ほか {count - len(summaries)}件")
    return say("\n".join(lines))


RENDERERS: dict[type, Callable[[Any], list[dict[str, Any]]]] = {
    groups.Refused: lambda o: refused(o.message),
    groups.HelpShown: lambda o: help_text(o.bound),
    groups.Bound: lambda o: bound(),
    groups.AwaitingConfirmation: lambda o: confirmation(o.preview, o.token),
    groups.Cancelled: lambda o: cancelled(o.command),
    groups.Started: lambda o: started(o.started),
    groups.Status: lambda o: status(o.tally, o.closed, o.deliveries, o.trigger, o.family),
    groups.Reminded: lambda o: reminded(o.reminder),
    groups.Closed: lambda o: closed(o.alert, o.tally),
    groups.OpenList: lambda o: open_list(o.summaries, o.count),
    groups.PostAwaitingConfirmation: lambda o: post_confirmation(o.preview, o.token),
    groups.BoardPosted: lambda o: board_posted(o.posted),
}


def outcome(result: groups.Outcome) -> list[dict[str, Any]]:
    """What the bot replies to a command's outcome."""
    return RENDERERS[type(result)](result)
