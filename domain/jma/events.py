"""What a bulletin does: the one path the poller and `jma replay` share. A bulletin is read
once (by its digest); its event (EventID) gets at most one alert however many bulletins,
corrections and re-fetches arrive; 訓練 starts a drill only where a rule opts in, 試験 nothing;
取消 tells the admin groups and leaves any alert for a human. A rule's suppression window
turns an aftershock into a notice with a one-tap start, and its delay into a pending start the
admin groups may cancel. Every message to the admin groups is a JmaNotice row written with the
decision, pushed by the JMA worker."""

import enum
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from domain import admin_groups
from domain.actors import Actor
from domain.alerts import StartedAlert, preview_alert, start_alert
from domain.audit import audited, log_action
from domain.errors import Conflict, DomainError, Forbidden, NotFound
from domain.jma.areas import (
    PREFECTURES,
    TSUNAMI_LABELS,
    TsunamiLevel,
    intensity_label,
)
from domain.jma.bulletin import KIND_LABELS, Bulletin, BulletinKind, parse_bulletin
from domain.jma.rules import RULE_KINDS, RuleMatch, describe, match
from domain.jma.triggers import jst_minute as _jst
from domain.notify import Topic, notifier
from domain.scope import Scope
from models import (
    Department,
    Employee,
    JmaBulletin,
    JmaEvent,
    JmaEventState,
    JmaNotice,
    JmaRule,
    Template,
)

log = logging.getLogger(__name__)

START_ACTION = "start"  # the button on a suppressed aftershock's notice
CANCEL_ACTION = "cancel"  # the button on a delayed alert's notice
UNDECIDED = (JmaEventState.SEEN, JmaEventState.NO_TARGET)


class Did(enum.StrEnum):
    """What a bulletin did, in a word (the CLI prints it before the Japanese line)."""

    STARTED = "started"
    DELAYED = "delayed"
    SUPPRESSED = "suppressed"
    IGNORED = "ignored"
    DECIDED = "already decided"  # its earthquake already has its alert (or was held back)
    DUPLICATE = "already read"
    WITHDRAWN = "cancelled by JMA"
    NO_TARGET = "no office hit"
    FAILED = "not started"


@dataclass
class Outcome:
    """What one bulletin did, in one line for the CLI and the console."""

    text: str
    did: Did = Did.IGNORED
    bulletin_id: int | None = None
    alert_id: int | None = None
    started: list[StartedAlert] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def summarize(bulletin: Bulletin) -> str:
    """The event as the admin groups read it: time, epicentre, magnitude, max intensity (for a
    tsunami the coasts' levels; for weather the areas)."""
    if bulletin.kind is BulletinKind.WEATHER:
        areas = "、".join(dict.fromkeys(s.name for s in bulletin.specials)) or "なし"
        kinds = "・".join(dict.fromkeys(k for s in bulletin.specials for k in s.kinds))
        return f"発表: {_jst(bulletin.report_time)}\n特別警報: {kinds or 'なし'}\n地域: {areas}"
    lines = [f"発生: {_jst(bulletin.origin_time or bulletin.report_time)}"]
    if bulletin.hypocentre:
        magnitude = f"({bulletin.magnitude})" if bulletin.magnitude else ""
        lines.append(f"震源: {bulletin.hypocentre}{magnitude}")
    if bulletin.kind is BulletinKind.TSUNAMI:
        top = max((c.level for c in bulletin.coasts), default=TsunamiLevel.NONE)
        coasts = [c.name for c in bulletin.coasts if c.level == top and top]
        shown = "、".join(coasts[:8]) + ("…" if len(coasts) > 8 else "")
        lines.append(f"津波: {TSUNAMI_LABELS[top]}" + (f"({shown})" if shown else ""))
    else:
        lines.append(f"最大震度: {intensity_label(bulletin.max_intensity)}")
    return "\n".join(lines)


def bulletin_label(bulletin: Bulletin) -> str:
    """Which bulletin: its kind, report time and info type."""
    return f"{KIND_LABELS[bulletin.kind]} {_jst(bulletin.report_time)} {bulletin.info_type}"


async def _event_for(bulletin: Bulletin, key: str) -> JmaEvent:
    # A tsunami bulletin may name several EventIDs: the earthquake's event is any of them.
    prefix = "drill:" if bulletin.status == "訓練" else ""
    keys = [f"{prefix}eq:{i}" for i in bulletin.event_ids] if bulletin.event_ids else [prefix + key]
    existing = await JmaEvent.filter(key__in=keys).order_by("id").first()
    if existing is not None:
        return existing
    try:
        async with in_transaction():
            return await JmaEvent.create(key=keys[0], drill=bool(prefix))
    except IntegrityError:  # another process created it a moment ago
        return await JmaEvent.get(key=keys[0])


async def handle_bulletin(data: bytes, *, entry_id: str | None = None) -> Outcome:
    """Read one bulletin and act on it (the poller and `jma replay`); a bulletin already
    read does nothing again. Raises BulletinRefused (one line) for what cannot be read."""
    digest = hashlib.sha256(data).hexdigest()
    seen = await JmaBulletin.get_or_none(digest=digest)
    if seen is not None:
        text = f"既に処理済みの電文です(電文 {seen.id}: {seen.outcome})"
        return Outcome(text, Did.DUPLICATE, seen.id)
    bulletin = parse_bulletin(data)
    key = bulletin.event_key
    try:
        row = await JmaBulletin.create(
            digest=digest, entry_id=entry_id, kind=bulletin.kind.value, status=bulletin.status,
            info_type=bulletin.info_type, title=bulletin.title[:200], event_key=key[:200],
            serial=bulletin.serial[:16], report_time=bulletin.report_time,
        )  # fmt: skip
    except IntegrityError:
        return Outcome("既に処理済みの電文です(同時に受信)", Did.DUPLICATE)
    try:
        outcome = await _decide(bulletin, row)
    except BaseException:
        await row.delete()  # not read after all: the next fetch or replay tries it again
        raise
    outcome.bulletin_id = row.id
    row.outcome = outcome.text[:1000]
    await row.save(update_fields=["outcome"])
    log.info("jma bulletin %s (%s %s): %s", row.id, bulletin.kind, key, outcome.text)
    return outcome


async def _decide(bulletin: Bulletin, row: JmaBulletin) -> Outcome:
    if bulletin.status == "試験":
        return Outcome("無視: 試験電文です(配信試験であり、地震の情報ではありません)")
    if bulletin.kind is BulletinKind.WEATHER and not bulletin.specials and not bulletin.is_cancel:
        return Outcome("無視: 特別警報の発表はありません")
    event = await _event_for(bulletin, bulletin.event_key)
    if bulletin.is_cancel:
        return await _withdrawn(bulletin, event)
    summary = summarize(bulletin)
    if event.alert_id and "震源:" in summary and "震源:" not in event.summary:
        # 震度速報 started it before JMA knew the epicentre: the admin groups get it now.
        mark = "【訓練】" if event.drill else ""
        await JmaNotice.create(
            event=event, text=f"{mark}【続報】連絡 #{event.alert_id} の地震\n{summary}"
        )
    event.summary = summary
    await event.save(update_fields=["summary"])
    drill = bulletin.status == "訓練"
    rules = await JmaRule.filter(active=True, kind=RULE_KINDS[bulletin.kind]).order_by("id")
    if drill:
        rules = [r for r in rules if r.drills]
    if event.state not in UNDECIDED:
        alert = f"連絡 #{event.alert_id}" if event.alert_id else _STATE_WORDS[event.state]
        return Outcome(
            f"この地震はすでに対応済みです({alert})", Did.DECIDED, alert_id=event.alert_id
        )
    found = next((m for m in (match(rule, bulletin) for rule in rules) if m), None)
    if found is None:
        why = "訓練電文(訓練を受け付けるルールなし)" if drill else "条件を満たすルールなし"
        if bulletin.kind in (BulletinKind.INTENSITY, BulletinKind.QUAKE):
            why += f"、最大震度{intensity_label(bulletin.max_intensity)}"
        return Outcome(f"無視: {why}")
    return await _fire(found, bulletin, row, event)


_STATE_WORDS = {
    JmaEventState.PENDING: "発信待ち",
    JmaEventState.SUPPRESSED: "再通知抑止",
    JmaEventState.CANCELLED: "発信取りやめ",
    JmaEventState.STARTED: "発信済み",
}


async def _target_departments(rule: JmaRule, found: RuleMatch) -> list[int] | None:
    """The offices an alert reaches: None for everyone, else the departments set in the
    prefectures the bulletin hit (the alert reaches those and the departments below)."""
    if not rule.offices_only:
        return None
    return list(
        await Department.filter(prefecture__in=sorted(found.prefectures))
        .order_by("id")
        .values_list("id", flat=True)
    )


async def _fire(found: RuleMatch, bulletin: Bulletin, row: JmaBulletin, event: JmaEvent) -> Outcome:
    rule = found.rule
    now = _now()
    departments = await _target_departments(rule, found)
    header = _header(event, rule, found, bulletin)
    if departments == []:
        claimed = await JmaEvent.filter(id=event.id, state__in=UNDECIDED).update(
            state=JmaEventState.NO_TARGET, rule_id=rule.id, bulletin_id=row.id
        )
        if claimed and event.state is not JmaEventState.NO_TARGET:
            await JmaNotice.create(
                event=event, text=f"{header}\n対象の都道府県に事業所(部署)がないため発信しません。"
            )
        return Outcome(f"発信なし: ルール「{rule.name}」の対象の事業所がありません", Did.NO_TARGET)
    window = now - timedelta(minutes=rule.suppress_minutes)
    recent = (
        await JmaEvent.filter(
            rule_id=rule.id, drill=event.drill, decided_at__gte=window,
            state__in=(JmaEventState.PENDING, JmaEventState.STARTED),
        ).exclude(id=event.id).order_by("-decided_at").first()
    ) if rule.suppress_minutes else None  # fmt: skip
    claim = {
        "rule_id": rule.id,
        "bulletin_id": row.id,
        "departments": departments or [],
        "decided_at": now,
    }
    if recent is not None:
        async with audited(Actor.system(), "jma_suppressed", target=event.key) as a:
            if not await JmaEvent.filter(id=event.id, state__in=UNDECIDED).update(
                state=JmaEventState.SUPPRESSED, **claim
            ):
                a.result = "refused"  # another process decided this event a moment ago
                return Outcome("この地震はすでに対応済みです", Did.DECIDED)
            earlier = f"連絡 #{recent.alert_id}" if recent.alert_id else "発信待ちの連絡"
            await JmaNotice.create(
                event=event, action=START_ACTION,
                text=f"{header}\n再通知抑止時間({rule.suppress_minutes}分)内のため自動発信しません"
                f"({earlier}の後)。発信する場合は下のボタンを押してください。",
            )  # fmt: skip
            a.detail = {"rule": rule.name, "after": recent.key}
        text = f"抑止: ルール「{rule.name}」の再通知抑止時間内です({earlier}の後)"
        return Outcome(text, Did.SUPPRESSED)
    if rule.delay_minutes:
        due = now + timedelta(minutes=rule.delay_minutes)
        async with audited(Actor.system(), "jma_alert_delayed", target=event.key) as a:
            if not await JmaEvent.filter(id=event.id, state__in=UNDECIDED).update(
                state=JmaEventState.PENDING, due_at=due, **claim
            ):
                a.result = "refused"
                return Outcome("この地震はすでに対応済みです", Did.DECIDED)
            await JmaNotice.create(
                event=event, action=CANCEL_ACTION,
                text=f"{header}\n{_jst(due)} に自動発信します。"
                "誤報などで取りやめる場合は下のボタンを押してください。",
            )  # fmt: skip
            a.detail = {"rule": rule.name, "due": due.isoformat()}
        return Outcome(f"発信待ち: ルール「{rule.name}」、{_jst(due)} に開始します", Did.DELAYED)
    event.rule_id, event.bulletin_id, event.departments = rule.id, row.id, departments or []
    try:
        started = await _start(event, UNDECIDED, header, extra=claim)
    except DomainError as exc:  # e.g. nobody to reach: the next bulletin may try again
        return Outcome(f"発信できません: {exc.message}", Did.FAILED)
    if started is None:
        return Outcome("この地震はすでに対応済みです", Did.DECIDED)
    return Outcome(
        f"開始: 連絡 #{started.alert.id}(ルール「{rule.name}」、対象 {started.recipients}名)",
        Did.STARTED,
        alert_id=started.alert.id,
        started=[started],
    )


def _header(event: JmaEvent, rule: JmaRule, found: RuleMatch, bulletin: Bulletin) -> str:
    mark = "【訓練】" if event.drill else ""
    title = {BulletinKind.TSUNAMI: "津波", BulletinKind.WEATHER: "特別警報"}.get(
        bulletin.kind, "地震"
    )
    hits = "、".join(found.hits[:10]) + ("…" if len(found.hits) > 10 else "")
    return (
        f"{mark}【{title} 自動発信】\n{summarize(bulletin)}\n"
        f"該当: {hits}\nルール: {rule.name}({describe(rule)})\n電文: {bulletin_label(bulletin)}"
    )


async def _start(
    event: JmaEvent,
    from_states: tuple[JmaEventState, ...],
    header: str,
    *,
    actor: Actor | None = None,
    extra: dict | None = None,
) -> StartedAlert | None:
    """Claim the event (from `from_states`) and start its alert in one transaction; None when
    another process or tap claimed it first."""
    rule = await JmaRule.get_or_none(id=event.rule_id) if event.rule_id else None
    template = await Template.get_or_none(id=rule.template_id) if rule else None
    template = template if rule and rule.template_id else None
    if template is None:
        raise NotFound("ルールまたはテンプレートが削除されたため発信できません。")
    departments = await Department.filter(id__in=event.departments) if event.departments else []
    action = "jma_alert_started" if actor is None else "jma_start_anyway"
    async with audited(actor or Actor.system(), action, target=event.key) as a:
        claimed = await JmaEvent.filter(id=event.id, state__in=from_states).update(
            state=JmaEventState.STARTED, **(extra or {})
        )
        if not claimed:
            a.result = "refused"
            return None
        started = await start_alert(
            actor or Actor.system(), template, drill=event.drill, departments=departments or None
        )
        await JmaEvent.filter(id=event.id).update(alert_id=started.alert.id)
        await JmaNotice.create(
            event=event,
            text=f"{header}\n連絡 #{started.alert.id} を開始しました"
            f"(対象 {started.recipients}名)。",
        )
        a.detail = {"alert": started.alert.id, "recipients": started.recipients}
    # The alert's own wake-up ran inside this transaction: wake the engine again after it.
    await notifier.publish(Topic.DELIVERY, str(started.alert.id))
    return started


async def _withdrawn(bulletin: Bulletin, event: JmaEvent) -> Outcome:
    """取消: a pending alert is not started; a started one stays for a human to close."""
    now = _now()
    async with audited(Actor.system(), "jma_withdrawn", target=event.key) as a:
        await JmaEvent.filter(id=event.id).update(withdrawn_at=now)
        cancelled = await JmaEvent.filter(id=event.id, state=JmaEventState.PENDING).update(
            state=JmaEventState.CANCELLED
        )
        event = await JmaEvent.get(id=event.id)
        mark = "【訓練】" if event.drill else ""
        text = f"{mark}【取消】{KIND_LABELS[bulletin.kind]}が取り消されました。"
        text += f"\n{bulletin.headline}" if bulletin.headline else ""
        if event.alert_id:
            text += f"\n連絡 #{event.alert_id} は開始済みです。必要に応じて終了してください。"
            result = f"取消: 連絡 #{event.alert_id} は開始済み(終了は人が判断)"
        elif cancelled:
            text += "\n発信待ちの連絡は取りやめました。"
            result = "取消: 発信待ちの連絡を取りやめました"
        else:
            result = "取消: この地震による連絡はありません"
        await JmaNotice.create(event=event, text=text)
        a.detail = {"alert": event.alert_id, "cancelled_pending": bool(cancelled)}
    return Outcome(result, Did.WITHDRAWN, alert_id=event.alert_id)


async def start_due(now: datetime | None = None) -> list[StartedAlert]:
    """Start the delayed alerts whose wait is over (the JMA worker calls this)."""
    started = []
    due = await JmaEvent.filter(state=JmaEventState.PENDING, due_at__lte=now or _now())
    for event in due:
        rule = await JmaRule.get_or_none(id=event.rule_id) if event.rule_id else None
        mark = "【訓練】" if event.drill else ""
        header = f"{mark}【自動発信】\n{event.summary}\nルール: {rule.name if rule else '削除済み'}"
        result = await _start(event, (JmaEventState.PENDING,), header)
        if result is not None:
            started.append(result)
    return started


async def next_due_in() -> float | None:
    """Seconds until the next delayed alert is due (None: none waits)."""
    event = await JmaEvent.filter(state=JmaEventState.PENDING).order_by("due_at").first()
    if event is None or event.due_at is None:
        return None
    return max(0.0, (event.due_at - _now()).total_seconds())


async def cancel_pending(actor: Actor, event_id: int) -> JmaEvent:
    """An admin cancels a delayed alert before it starts."""
    async with audited(actor, "jma_alert_cancelled", target=str(event_id)) as a:
        event = await _find_event(event_id)
        a.target = event.key
        if not await JmaEvent.filter(id=event.id, state=JmaEventState.PENDING).update(
            state=JmaEventState.CANCELLED
        ):
            raise Conflict(_not_pending(await JmaEvent.get(id=event.id)), code="jma_not_pending")
    return await JmaEvent.get(id=event.id)


async def start_suppressed(actor: Actor, event_id: int) -> StartedAlert:
    """An admin starts the alert a suppression window held back (one tap)."""
    event = await _find_event(event_id)
    header = f"{'【訓練】' if event.drill else ''}【手動発信(抑止解除)】\n{event.summary}"
    started = await _start(event, (JmaEventState.SUPPRESSED,), header, actor=actor)
    if started is None:
        raise Conflict(_not_pending(await JmaEvent.get(id=event.id)), code="jma_not_suppressed")
    return started


def _not_pending(event: JmaEvent) -> str:
    if event.alert_id:
        return f"すでに連絡 #{event.alert_id} を開始しています。"
    return f"この操作はできません(現在: {_STATE_WORDS.get(event.state, '未発信')})。"


async def _find_event(event_id: int) -> JmaEvent:
    event = await JmaEvent.get_or_none(id=event_id) if 0 < event_id < 2**31 else None
    if event is None:
        raise NotFound("該当する地震・特別警報が見つかりません。")
    return event


@dataclass(frozen=True)
class RuleTest:
    """What a rule would do with a bulletin, without sending anything."""

    fires: bool
    text: str
    recipients: int = 0
    departments: tuple[str, ...] = ()
    employees: tuple[str, ...] = ()


async def test_rule(rule: JmaRule, data: bytes, *, show: int = 50) -> RuleTest:
    """Run a bulletin through one rule: whether it fires and whom it would reach (nothing is
    written, nothing sent). Raises BulletinRefused for what cannot be read."""
    bulletin = parse_bulletin(data)
    if bulletin.status == "試験":
        return RuleTest(False, "試験電文のため発信しません。")
    if bulletin.status == "訓練" and not rule.drills:
        return RuleTest(False, "訓練電文です(このルールは訓練を受け付けません)。")
    found = match(rule, bulletin)
    if found is None:
        return RuleTest(False, f"条件を満たしません({bulletin_label(bulletin)})。")
    department_ids = await _target_departments(rule, found)
    if department_ids == []:
        return RuleTest(False, "対象の都道府県に事業所(部署)がありません。")
    template = await Template.get_or_none(id=rule.template_id) if rule.template_id else None
    if template is None:
        return RuleTest(False, "テンプレートが削除されています。")
    departments = await Department.filter(id__in=department_ids) if department_ids else []
    drill = bulletin.status == "訓練"
    preview = await preview_alert(template, drill=drill, departments=departments)

    employees = Employee.filter(active=True)
    if departments:
        scope = await Scope.departments([d.id for d in departments])
        employees = employees.filter(department_id__in=list(scope.department_ids or ()))
    names = await employees.order_by("code").limit(show).values_list("code", "name")
    where = "、".join(f"{d.name}({PREFECTURES.get(d.prefecture or '', '')})" for d in departments)
    return RuleTest(
        True,
        f"発信します: {preview.title}、対象 {preview.recipients}名"
        + (f"({where} とその下の部署)" if where else "(全社員)")
        + f"。該当: {'、'.join(found.hits[:10])}",
        preview.recipients,
        tuple(d.name for d in departments),
        tuple(f"{code} {name}" for code, name in names),
    )


async def recent_events(limit: int = 50) -> list[JmaEvent]:
    """The latest events with their rule and bulletin, newest first."""
    return await JmaEvent.all().order_by("-id").limit(limit).prefetch_related("rule", "bulletin")


async def recent_bulletins(limit: int = 50) -> list[JmaBulletin]:
    """The latest bulletins received, newest first."""
    return await JmaBulletin.all().order_by("-id").limit(limit)


async def tap_from_group(user_id: str | None, action: str, event_id: int) -> str:
    """A tap on a notice's button in an admin group: a linked sender (発信権限者) starts the
    alert a suppression window held back, or cancels a delayed one; the reply's text. Anyone
    else is refused (and the refusal recorded)."""
    actor = Actor.group(await admin_groups.actor_of(user_id))
    name = "jma_start_anyway" if action == START_ACTION else "jma_alert_cancelled"
    try:
        await admin_groups.authorize(user_id)
    except Forbidden:
        await log_action(actor, name, str(event_id), "refused")
        raise
    if action == START_ACTION:
        started = await start_suppressed(actor, event_id)
        return f"連絡 #{started.alert.id} を開始しました(対象 {started.recipients}名)。"
    await cancel_pending(actor, event_id)
    return "自動発信を取りやめました。"
