"""Retention (seed FAQ Q1: keep no more than needed): answers of alerts closed long ago, and
what LINE told us about people who left, are deleted after the configured number of days.
The housekeeping worker applies it; each purge that deletes something is audited as the
system."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q

from domain.actors import Actor
from domain.audit import audited
from domain.board import purge_board
from domain.family import purge_family_answers
from models import Alert, Answer, AnswerCount, BoardPost, Delivery, FamilyAnswer, LineAccount
from models.answers import ANSWERED, WHOLE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    """How long to keep each kind of data; None keeps it for ever."""

    answers: timedelta | None = None
    line_data: timedelta | None = None


def _now() -> datetime:
    return datetime.now(UTC)


async def purge_answers(older_than: timedelta) -> int:
    """Delete the answers (with their revisions), the deliveries (LINE user IDs, e-mail
    addresses), the board (posts with their replies) and the family's answers of alerts
    closed more than `older_than` ago; the alert and its roster stay.
    Returns how many rows went."""
    cutoff = _now() - older_than
    alert_ids = await Alert.filter(closed_at__lt=cutoff).values_list("id", flat=True)
    if not alert_ids:
        return 0
    answers = Answer.filter(alert_id__in=alert_ids)
    deliveries = Delivery.filter(alert_id__in=alert_ids)
    board = BoardPost.filter(alert_id__in=alert_ids)
    family = FamilyAnswer.filter(alert_id__in=alert_ids)
    if not any([await q.exists() for q in (answers, deliveries, board, family)]):
        return 0
    async with audited(Actor.system(), "answers_purged") as audit:
        # Revisions go with their answer (ON DELETE CASCADE).
        gone_answers = await Answer.filter(alert_id__in=alert_ids).delete()
        # Their counts go with them; the size of each roster stays, as the roster does.
        await AnswerCount.filter(
            Q(item__not=WHOLE) | Q(choice=ANSWERED), alert_id__in=alert_ids
        ).delete()
        gone_deliveries = await Delivery.filter(alert_id__in=alert_ids).delete()
        gone_board = await purge_board(alert_ids)
        gone_family = await purge_family_answers(alert_ids)
        audit.target = f"{len(alert_ids)} alerts"
        audit.detail = {
            "days": older_than.days,
            "answers": gone_answers,
            "deliveries": gone_deliveries,
            "board": gone_board,
            "family": gone_family,
        }
    log.info(
        "retention: %d answers, %d deliveries, %d board rows, %d family answers purged",
        gone_answers,
        gone_deliveries,
        gone_board,
        gone_family,
    )
    return gone_answers + gone_deliveries + gone_board + gone_family


async def purge_line_data(older_than: timedelta) -> int:
    """Forget LINE users who left more than `older_than` ago: an account that unfollowed
    (blocked) goes entirely; one unlinked from its employee but still a friend keeps only its
    user ID (needed to answer it), not its display name. Returns how many accounts changed."""
    cutoff = _now() - older_than
    unfollowed = LineAccount.filter(followed=False, updated_at__lt=cutoff)
    unlinked = LineAccount.filter(
        followed=True, employee_id__isnull=True, updated_at__lt=cutoff
    ).exclude(display_name="")
    if not await unfollowed.exists() and not await unlinked.exists():
        return 0
    async with audited(Actor.system(), "line_data_purged") as audit:
        deleted = await LineAccount.filter(followed=False, updated_at__lt=cutoff).delete()
        forgotten = (
            await LineAccount.filter(followed=True, employee_id__isnull=True, updated_at__lt=cutoff)
            .exclude(display_name="")
            .update(display_name="")
        )
        audit.detail = {"days": older_than.days, "deleted": deleted, "names_forgotten": forgotten}
    log.info("retention: %d LINE accounts deleted, %d names forgotten", deleted, forgotten)
    return deleted + forgotten


async def apply_retention(retention: Retention) -> int:
    """One round of every configured purge; how many rows went."""
    gone = 0
    if retention.answers is not None:
        gone += await purge_answers(retention.answers)
    if retention.line_data is not None:
        gone += await purge_line_data(retention.line_data)
    return gone
