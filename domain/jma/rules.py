"""The rules maintainers edit (add, change, delete, list) and whether a bulletin meets one:
which of its regions reached the rule's threshold and which prefectures that hits."""

from dataclasses import dataclass

from domain.actors import Actor
from domain.audit import audited
from domain.errors import Conflict, Invalid, NotFound
from domain.jma.areas import (
    PREFECTURE_CODES,
    PREFECTURES,
    TsunamiLevel,
    coast_prefectures,
    intensity_label,
    intensity_rank,
    normalize,
    parse_intensity,
)
from domain.jma.bulletin import Bulletin, BulletinKind
from models import JmaRule, JmaRuleKind, Template

MAX_NAME_LENGTH = 100
MAX_AREAS = 100
MAX_SUPPRESS_MINUTES = 7 * 24 * 60
MAX_DELAY_MINUTES = 60

RULE_KINDS = {
    BulletinKind.INTENSITY: JmaRuleKind.QUAKE,
    BulletinKind.QUAKE: JmaRuleKind.QUAKE,
    BulletinKind.TSUNAMI: JmaRuleKind.TSUNAMI,
    BulletinKind.WEATHER: JmaRuleKind.WEATHER,
}
KIND_LABELS = {
    JmaRuleKind.QUAKE: "地震(震度)",
    JmaRuleKind.TSUNAMI: "津波警報以上",
    JmaRuleKind.WEATHER: "特別警報",
}


@dataclass(frozen=True)
class RuleDraft:
    """A rule as submitted (the CLI's options, the console's form)."""

    name: str
    kind: str = JmaRuleKind.QUAKE.value
    min_intensity: str = ""
    areas: tuple[str, ...] = ()
    template: str = "earthquake"  # key or ID
    offices_only: bool = False
    suppress_minutes: int = 720
    delay_minutes: int = 0
    drills: bool = False
    active: bool = True


def canonical_area(raw: str) -> str:
    """An area as stored: a prefecture by name (`17` and `石川県` are one), others as typed."""
    text = normalize(raw)
    if text.isdigit() and len(text) <= 2 and text.zfill(2) in PREFECTURES:
        return PREFECTURES[text.zfill(2)]
    return text


async def _validated(draft: RuleDraft) -> dict:
    name = normalize(draft.name)
    if not name or len(name) > MAX_NAME_LENGTH:
        raise Invalid(f"ルール名を{MAX_NAME_LENGTH}文字以内で入力してください。")
    try:
        kind = JmaRuleKind(draft.kind)
    except ValueError:
        raise Invalid(f"種類 {draft.kind!r} は quake / tsunami / weather のどれかです。") from None
    min_intensity = parse_intensity(draft.min_intensity) if kind is JmaRuleKind.QUAKE else None
    areas = list(dict.fromkeys(canonical_area(a) for a in draft.areas if normalize(a)))
    if not areas:
        raise Invalid("対象の都道府県・地域を1つ以上指定してください。")
    if len(areas) > MAX_AREAS or any(len(a) > 50 for a in areas):
        raise Invalid(f"対象の地域は{MAX_AREAS}件まで、1件50文字以内です。")
    if not 0 <= draft.suppress_minutes <= MAX_SUPPRESS_MINUTES:
        raise Invalid(f"再通知抑止時間は0〜{MAX_SUPPRESS_MINUTES}分です。")
    if not 0 <= draft.delay_minutes <= MAX_DELAY_MINUTES:
        raise Invalid(f"発信までの待ち時間は0〜{MAX_DELAY_MINUTES}分です。")
    template = await Template.get_or_none(key=draft.template)
    if template is None and draft.template.isdigit() and int(draft.template) < 2**31:
        template = await Template.get_or_none(id=int(draft.template))
    if template is None:
        raise NotFound(f"テンプレート {draft.template!r} が見つかりません。")
    return {
        "name": name,
        "kind": kind,
        "min_intensity": min_intensity,
        "areas": areas,
        "template": template,
        "offices_only": draft.offices_only,
        "suppress_minutes": draft.suppress_minutes,
        "delay_minutes": draft.delay_minutes,
        "drills": draft.drills,
        "active": draft.active,
    }


def _detail(rule: JmaRule) -> dict:
    return {"kind": rule.kind.value, "min_intensity": rule.min_intensity, "areas": rule.areas,
            "offices_only": rule.offices_only, "suppress_minutes": rule.suppress_minutes,
            "delay_minutes": rule.delay_minutes, "drills": rule.drills}  # fmt: skip


async def add_rule(actor: Actor, draft: RuleDraft) -> JmaRule:
    """Create a rule (names are unique)."""
    values = await _validated(draft)
    async with audited(actor, "jma_rule_add", target=values["name"]) as a:
        if await JmaRule.filter(name=values["name"]).exists():
            raise Conflict(f"ルール {values['name']!r} はすでにあります。")
        rule = await JmaRule.create(**values)
        a.detail = _detail(rule)
    return rule


async def update_rule(actor: Actor, rule_id: int, draft: RuleDraft) -> JmaRule:
    """Change a rule; events it already decided keep what was decided."""
    values = await _validated(draft)
    async with audited(actor, "jma_rule_edit", target=values["name"]) as a:
        rule = await find_rule(str(rule_id))
        if await JmaRule.filter(name=values["name"]).exclude(id=rule.id).exists():
            raise Conflict(f"ルール {values['name']!r} はすでにあります。")
        rule.update_from_dict(values)
        await rule.save()
        a.detail = _detail(rule)
    return rule


async def delete_rule(actor: Actor, rule_id: int) -> None:
    """Delete a rule (events it decided keep their alerts)."""
    async with audited(actor, "jma_rule_delete") as a:
        rule = await find_rule(str(rule_id))
        a.target = rule.name
        await rule.delete()


async def find_rule(ref: str) -> JmaRule:
    """A rule by ID or exact name."""
    ref = normalize(ref)
    rule = await JmaRule.get_or_none(name=ref)
    if rule is None and ref.isdigit() and int(ref) < 2**31:
        rule = await JmaRule.get_or_none(id=int(ref))
    if rule is None:
        raise NotFound(f"ルール {ref!r} が見つかりません。")
    return rule


async def list_rules() -> list[JmaRule]:
    """Every rule with its template, in the order they were added."""
    return await JmaRule.all().order_by("id").prefetch_related("template")


async def any_active_rule() -> bool:
    """Whether some rule is active (without one the feeds need not be asked)."""
    return await JmaRule.filter(active=True).exists()


def describe(rule: JmaRule) -> str:
    """A rule in one line of Japanese."""
    what = {
        JmaRuleKind.QUAKE: f"震度{intensity_label(rule.min_intensity)}以上",
        JmaRuleKind.TSUNAMI: "津波警報以上",
        JmaRuleKind.WEATHER: "特別警報",
    }[rule.kind]
    return f"{what}: {'、'.join(rule.areas)}"


@dataclass(frozen=True)
class RuleMatch:
    """A bulletin meeting a rule: the regions that did (for people) and their prefectures."""

    rule: JmaRule
    hits: tuple[str, ...]
    prefectures: frozenset[str]


def match(rule: JmaRule, bulletin: Bulletin) -> RuleMatch | None:
    """Whether the bulletin meets the rule, and where; None when it does not."""
    if RULE_KINDS[bulletin.kind] is not rule.kind or bulletin.is_cancel:
        return None
    wanted = set(rule.areas)
    hits: list[str] = []
    prefectures: set[str] = set()
    if rule.kind is JmaRuleKind.QUAKE:
        threshold = intensity_rank(rule.min_intensity)
        for region in bulletin.prefectures + bulletin.areas:
            if (region.name in wanted or region.code in wanted) and intensity_rank(
                region.max_intensity
            ) >= threshold:
                hits.append(f"{region.name}(震度{intensity_label(region.max_intensity)})")
                prefectures.add(region.prefecture)
    elif rule.kind is JmaRuleKind.TSUNAMI:
        wanted_prefs = {PREFECTURE_CODES[a] for a in wanted if a in PREFECTURE_CODES}
        for coast in bulletin.coasts:
            coast_prefs = set(coast_prefectures(coast.name))
            if coast.level >= TsunamiLevel.WARNING and (
                coast.name in wanted or coast.code in wanted or coast_prefs & wanted_prefs
            ):
                hits.append(f"{coast.name}({coast.kind_name})")
                prefectures |= coast_prefs
    else:
        for special in bulletin.specials:
            if (
                special.name in wanted
                or special.code in wanted
                or PREFECTURES.get(special.prefecture) in wanted
            ):
                hits.append(f"{special.name}({'・'.join(special.kinds)})")
                prefectures.add(special.prefecture)
    if not hits:
        return None
    return RuleMatch(rule, tuple(dict.fromkeys(hits)), frozenset(prefectures))
