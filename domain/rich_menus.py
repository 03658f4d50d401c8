"""Which LINE rich menu serves each role, and who should see the linked one."""

from tortoise.expressions import Q

from domain.i18n import DEFAULT_LANGUAGE
from models import LineAccount, RichMenu


async def current(kind: str) -> RichMenu | None:
    """The recorded rich menu of this kind (`unlinked` or `linked`), if any."""
    return await RichMenu.get_or_none(kind=kind)


async def record(kind: str, rich_menu_id: str, digest: str) -> RichMenu:
    """Record the rich menu now serving this kind, made from the spec with this digest."""
    row, _ = await RichMenu.update_or_create(
        defaults={"rich_menu_id": rich_menu_id, "digest": digest}, kind=kind
    )
    return row


async def linked_user_ids(language: str = DEFAULT_LANGUAGE) -> list[str]:
    """LINE user IDs linked to an active employee of `language` (unset counts as Japanese)
    and still friends: they get the linked menu of that language."""
    speaks = Q(employee__language=language)
    if language == DEFAULT_LANGUAGE:
        speaks = ~Q(employee__language="en")
    return list(
        await LineAccount.filter(speaks, employee__active=True, followed=True, blocked=False)
        .order_by("id")
        .values_list("user_id", flat=True)
    )
