"""The rich menus on LINE (unlinked and linked, in Japanese and in English): `sync` makes LINE
match bot/richmenu_spec.py and the committed images; `show_menu` gives one user the menu that
fits them (linked or not, in their language).

LINE allows 100 rich menu creations (and as many deletions) per hour and an image can never be
replaced, so a menu is identified by a digest of its JSON and image: an unchanged menu is left
alone, a changed one is replaced by a new menu under a new name."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp
from linebot.v3.messaging.exceptions import ApiException

from bot.line_api import LineApi, error_message
from bot.richmenu_spec import MENUS, MenuSpec, menu_kind
from domain import rich_menus
from domain.i18n import DEFAULT_LANGUAGE, language_of

log = logging.getLogger(__name__)
T = TypeVar("T")

NAME_PREFIX = "anpi-"  # menus named so are ours to replace and delete; others are left alone


class RichMenuSyncError(Exception):
    """LINE refused (or did not answer) a step of the sync; the message names the step."""


@dataclass(frozen=True)
class MenuOutcome:
    """What the sync did to one kind of menu: `unchanged`, `created` or `replaced`."""

    kind: str
    outcome: str
    rich_menu_id: str


@dataclass
class SyncReport:
    """What a sync did, for the operator."""

    menus: list[MenuOutcome] = field(default_factory=list)
    default_set: bool = False
    relinked_users: int = 0
    deleted: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the sync wrote anything to LINE."""
        return (
            any(m.outcome != "unchanged" for m in self.menus)
            or self.default_set
            or bool(self.relinked_users or self.deleted)
        )

    def lines(self) -> list[str]:
        """One or two lines for the terminal."""
        menus = ", ".join(f"{m.kind} {m.outcome} ({m.rich_menu_id})" for m in self.menus)
        details = [
            f"default {'set to the unlinked menu' if self.default_set else 'unchanged'}",
            f"re-linked {self.relinked_users} user(s)",
            f"deleted {len(self.deleted)} old menu(s)",
        ]
        return [f"rich menus: {menus}", "  " + ", ".join(details)]


def menu_name(spec: MenuSpec, digest: str) -> str:
    """The menu's name on LINE: its kind and the digest it was made from."""
    return f"{NAME_PREFIX}{spec.kind}-{digest[:12]}"


def digest_of(spec: MenuSpec, image: bytes) -> str:
    """sha256 of the menu's JSON (without its name, which holds the digest) and its image."""
    body = spec.request_json(name="")
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode() + b"\0" + image).hexdigest()


def read_image(spec: MenuSpec) -> bytes:
    """The committed PNG of the menu."""
    return spec.image_path.read_bytes()


async def _step(what: str, call: Awaitable[T]) -> T:
    """Await one LINE call; turn its failure into RichMenuSyncError naming `what`."""
    try:
        return await call
    except ApiException as exc:
        raise RichMenuSyncError(f"LINE refused {what}: {exc.status} {error_message(exc)}") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RichMenuSyncError(f"LINE did not answer {what}: {type(exc).__name__}") from None
    except ValueError as exc:  # the SDK checks a request before sending it
        reason = " ".join(str(exc).split())
        raise RichMenuSyncError(f"not sent to LINE ({what}): {reason}") from None


async def _ensure_menu(
    line: LineApi, spec: MenuSpec, listed: dict[str, str]
) -> tuple[MenuOutcome, str]:
    """Make LINE hold this spec's menu with its image and alias; return the outcome and the
    digest to record once the menu's users have it."""
    image = await asyncio.to_thread(read_image, spec)
    digest = digest_of(spec, image)
    name = menu_name(spec, digest)
    row = await rich_menus.current(spec.kind)
    if row is not None and row.digest == digest and row.rich_menu_id in listed:
        menu_id, outcome = row.rich_menu_id, "unchanged"
    else:
        # A menu of this exact name was created by an earlier sync that stopped before
        # recording it: reuse it instead of creating a second one.
        menu_id = next((i for i, n in listed.items() if n == name), "")
        if not menu_id:
            menu_id = await _step(
                f"creating the {spec.kind} menu", line.create_rich_menu(spec.request_json(name))
            )
            listed[menu_id] = name
            has_image = False
        else:
            has_image = await _step(
                f"reading the {spec.kind} menu's image", line.has_rich_menu_image(menu_id)
            )
        if not has_image:
            await _step(
                f"uploading the {spec.kind} menu's image",
                line.upload_rich_menu_image(menu_id, image, "image/png"),
            )
        outcome = "replaced" if row is not None else "created"
    # The alias can point at a menu only once it has its image.
    target = await _step(f"reading alias {spec.alias_id}", line.alias_target(spec.alias_id))
    if target != menu_id:
        await _step(
            f"pointing alias {spec.alias_id} at the new menu",
            line.create_or_update_alias(spec.alias_id, menu_id),
        )
    return MenuOutcome(spec.kind, outcome, menu_id), digest


async def sync(line: LineApi) -> SyncReport:
    """Make LINE show the spec's menus: create what changed, point the aliases, make the
    unlinked menu the default, re-link linked users to a changed linked menu, and delete
    our menus that nothing uses any more. A second run with nothing changed writes nothing."""
    report = SyncReport()
    listed = dict(await _step("listing rich menus", line.list_rich_menus()))
    current: dict[str, str] = {}
    for spec in MENUS:
        outcome, digest = await _ensure_menu(line, spec, listed)
        report.menus.append(outcome)
        current[spec.kind] = outcome.rich_menu_id
        changed = outcome.outcome != "unchanged"
        if spec.kind == "unlinked":
            default = await _step("reading the default menu", line.get_default_rich_menu_id())
            if default != outcome.rich_menu_id:
                await _step(
                    "setting the default menu", line.set_default_rich_menu(outcome.rich_menu_id)
                )
                report.default_set = True
        elif spec.linked and changed:
            # Before the old menu is deleted, or its users would fall back to the default.
            user_ids = await rich_menus.linked_user_ids(spec.language)
            if user_ids:
                await _step(
                    "linking the linked menu to its users",
                    line.link_rich_menu_bulk(user_ids, outcome.rich_menu_id),
                )
            report.relinked_users += len(user_ids)
        if changed:
            # Recorded only now: a sync that stops before the users have the new menu finds
            # it again by name next time and finishes the job.
            await rich_menus.record(spec.kind, outcome.rich_menu_id, digest)
    keep = set(current.values())
    for menu_id, name in listed.items():
        if name.startswith(NAME_PREFIX) and menu_id not in keep:
            await _step(f"deleting old menu {name}", line.delete_rich_menu(menu_id))
            report.deleted.append(menu_id)
    log.info("rich menus synced: %s", "; ".join(report.lines()))
    return report


async def show_menu(
    line: LineApi, user_id: str, *, linked: bool, language: str | None = None
) -> bool:
    """Give the user the linked menu of their language, or (not linked) the unlinked menu of
    their language: the default one (their own menu taken away) for Japanese. Never raises:
    a LINE failure or a menu not yet synced is logged and answers False."""
    language = language_of(language)
    try:
        row = await rich_menus.current(menu_kind(linked=linked, language=language))
        if row is None and language != DEFAULT_LANGUAGE:
            row = await rich_menus.current(menu_kind(linked=linked, language=DEFAULT_LANGUAGE))
        if linked:
            if row is None:
                log.info("no linked rich menu yet: run `python -m bot richmenu sync`")
                return False
            await line.link_rich_menu(user_id, row.rich_menu_id)
        elif language == DEFAULT_LANGUAGE or row is None:
            await line.unlink_rich_menu(user_id)
        else:
            await line.link_rich_menu(user_id, row.rich_menu_id)
    except ApiException as exc:
        log.warning("rich menu not changed: %s %s", exc.status, error_message(exc))
        return False
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("rich menu not changed: %s", type(exc).__name__)
        return False
    return True
