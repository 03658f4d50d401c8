"""The organisation's settings: 連絡先情報閲覧可 (maintainers may see LINE display names) and the
chosen monthly message pack."""

from domain.actors import Actor
from domain.audit import audited
from domain.errors import Invalid
from domain.i18n import gettext as _
from models import OrganizationSettings

PACKS = {3000: 3000, 10000: 8000, 45000: 30000}  # messages per month: price in yen


async def get_settings() -> OrganizationSettings:
    """The settings row (created with the defaults on first use)."""
    row = await OrganizationSettings.first()
    if row is None:
        row = await OrganizationSettings.create()
    return row


async def update_settings(
    *,
    contact_info_viewable: bool,
    monthly_pack: int,
    actor: Actor,
    family_visible: bool | None = None,
) -> OrganizationSettings:
    """Change the settings (the pack must be one of PACKS); what changed, before and after,
    goes to the audit log."""
    if monthly_pack not in PACKS:
        raise Invalid(_("月間メッセージ数のプランを選択してください。"), code="invalid_pack")
    row = await get_settings()
    wanted = {"contact_info_viewable": contact_info_viewable, "monthly_pack": monthly_pack}
    if family_visible is not None:  # supervisors see family status (within their scope)
        wanted["family_visible"] = family_visible
    changed = {k: [getattr(row, k), v] for k, v in wanted.items() if getattr(row, k) != v}
    if not changed:
        return row
    async with audited(actor, "settings_changed", target="settings") as entry:
        for name, (_was, now) in changed.items():
            setattr(row, name, now)
        await row.save()
        entry.detail = changed
    return row
