"""Answering an alert: who may answer, what a valid answer is, and its revisions."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from domain.check_items import CheckItem, parse_items
from domain.errors import Conflict, Invalid, NotFound
from domain.notify import Topic, notifier
from models import Alert, AlertRecipient, Answer, AnswerChannel, AnswerRevision, Employee

MAX_MESSAGE_LENGTH = 1000
# An error names at most this many problems, and echoes at most this much of any input.
MAX_NAMED_PROBLEMS = 5
MAX_ECHOED_LENGTH = 20


@dataclass(frozen=True)
class AlertView:
    """An alert as its recipient sees it, with their current answer."""

    alert: Alert
    items: tuple[CheckItem, ...]
    answer: Answer | None


async def alert_for(alert_id: int, employee: Employee) -> AlertView:
    """The alert if this employee is on its roster; NotFound otherwise (no enumeration)."""
    alert = await Alert.get_or_none(id=alert_id) if 0 < alert_id < 2**31 else None
    if alert is None or not await AlertRecipient.exists(alert_id=alert_id, employee_id=employee.id):
        raise NotFound("指定された安否確認が見つかりません。", code="alert_not_found")
    answer = await Answer.get_or_none(alert_id=alert_id, employee_id=employee.id)
    return AlertView(alert, parse_items(alert.items), answer)


def _shown(text: str) -> str:
    """User input echoed in an error, cut short so a reply is never larger than the input."""
    return text if len(text) <= MAX_ECHOED_LENGTH else text[:MAX_ECHOED_LENGTH] + "…"


def validate_answer(
    items: tuple[CheckItem, ...], choices: Any, message: Any
) -> tuple[dict[str, str], str]:
    """Check choices against the alert's items; raise Invalid naming the first few problems."""
    if not isinstance(choices, dict):
        raise Invalid("回答の形式が正しくありません。", code="invalid_answer")
    if len(choices) > len(items):
        # Named one by one, thousands of made-up labels would make a reply larger than them.
        raise Invalid(
            "回答に、この連絡にない確認項目が含まれています。回答画面を開き直してください。",
            code="invalid_answer",
        )
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in choices.items()):
        raise Invalid("回答の形式が正しくありません。", code="invalid_answer")
    if message is None:
        message = ""
    if not isinstance(message, str):
        raise Invalid("安否回答メッセージの形式が正しくありません。", code="invalid_answer")
    message = message.strip()
    problems: dict[str, str] = {}
    labels = {item.label for item in items}
    for label in choices:
        if label not in labels:
            problems[_shown(label)] = f"確認項目「{_shown(label)}」はこの連絡にありません。"
    cleaned: dict[str, str] = {}
    for item in items:
        label = item.label
        choice = choices.get(label, "")
        if not choice:
            if item.required:
                problems[label] = f"「{label}」を選択してください。"
            continue
        if choice not in item.choices:
            problems[label] = f"「{label}」の選択肢「{_shown(choice)}」は選べません。"
            continue
        cleaned[label] = choice
    if len(message) > MAX_MESSAGE_LENGTH:
        problems["message"] = (
            f"安否回答メッセージは{MAX_MESSAGE_LENGTH}文字以内で入力してください。"
        )
    if problems:
        named = dict(list(problems.items())[:MAX_NAMED_PROBLEMS])
        more = len(problems) - len(named)
        raise Invalid(
            "入力内容を確認してください: "
            + " ".join(named.values())
            + (f" ほか{more}件" if more else ""),
            code="invalid_answer",
            fields=named,
        )
    return cleaned, message


async def submit_answer(
    alert_id: int,
    employee: Employee,
    choices: Any,
    message: Any,
    channel: AnswerChannel,
) -> Answer:
    """Record an answer; answering again replaces it and keeps the earlier revision."""
    view = await alert_for(alert_id, employee)
    if view.alert.is_closed:
        raise Conflict("この安否確認は終了しているため回答できません。", code="alert_closed")
    cleaned, message = validate_answer(view.items, choices, message)
    now = datetime.now(UTC)
    for _ in range(2):  # a second try covers two first answers racing on the unique key
        try:
            answer = await _store(alert_id, employee, cleaned, message, channel, now)
        except IntegrityError:
            continue
        await notifier.publish(Topic.ANSWER, str(alert_id))
        return answer
    raise Conflict("回答を保存できませんでした。もう一度お試しください。")


async def _store(
    alert_id: int,
    employee: Employee,
    choices: dict[str, str],
    message: str,
    channel: AnswerChannel,
    now: datetime,
) -> Answer:
    async with in_transaction():
        answer = (
            await Answer.filter(alert_id=alert_id, employee_id=employee.id)
            .select_for_update()
            .first()
        )
        if answer is None:
            answer = await Answer.create(
                alert_id=alert_id,
                employee=employee,
                choices=choices,
                message=message,
                channel=channel,
                revision=1,
                answered_at=now,
            )
        else:
            answer.choices = choices
            answer.message = message
            answer.channel = channel
            answer.revision += 1
            answer.answered_at = now
            await answer.save()
        await AnswerRevision.create(
            answer=answer,
            revision=answer.revision,
            choices=choices,
            message=message,
            channel=channel,
            answered_at=now,
        )
    return answer


@dataclass(frozen=True)
class OpenAlert:
    """An open alert addressed to an employee, and whether they have answered it."""

    alert: Alert
    answered: bool


async def open_alerts_for(employee: Employee, limit: int = 10) -> list[OpenAlert]:
    """The open alerts on this employee's roster, newest first, with their answered state."""
    alerts = (
        await Alert.filter(recipients__employee_id=employee.id, closed_at__isnull=True)
        .order_by("-started_at", "-id")
        .limit(limit)
    )
    answered = set(
        await Answer.filter(
            employee_id=employee.id, alert_id__in=[a.id for a in alerts]
        ).values_list("alert_id", flat=True)
    )
    return [OpenAlert(alert, alert.id in answered) for alert in alerts]


async def latest_alert_for(employee: Employee) -> AlertView | None:
    """The newest alert (open or closed) on this employee's roster with their current answer,
    or None when no alert ever reached them."""
    recipient = (
        await AlertRecipient.filter(employee_id=employee.id)
        .order_by("-alert__started_at", "-alert_id")
        .first()
    )
    if recipient is None:
        return None
    return await alert_for(recipient.alert_id, employee)
