"""Request bodies checked against LINE's OpenAPI files, with the discriminators made binding.

LINE's files declare message, action, Flex component and template subtypes with a `discriminator`
on a base schema that the subtypes extend with `allOf`. JSON Schema ignores a bare discriminator,
so as published the files accept `{"type": "bogus"}` and a text message without `text`. Here each
discriminated base becomes "type is one of the mapped values, and if it is X then subtype X
applies"; the subtypes extend a bare copy of the base (no recursion) and are pinned to their own
type value. Rules from LINE's reference that the files leave out are added on top.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.protocols import Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

log = logging.getLogger(__name__)

SCHEMAS = "#/components/schemas/"
MESSAGING_URI = "urn:line-simulator:messaging-api"
WEBHOOK_URI = "urn:line-simulator:webhook"

# Request schema of each Messaging API operation the simulator serves.
OPERATIONS = {
    "reply": "ReplyMessageRequest",
    "push": "PushMessageRequest",
    "multicast": "MulticastRequest",
    "richmenu": "RichMenuRequest",
    "richmenu_alias_create": "CreateRichMenuAliasRequest",
    "richmenu_alias_update": "UpdateRichMenuAliasRequest",
    "richmenu_bulk_link": "RichMenuBulkLinkRequest",
    "richmenu_bulk_unlink": "RichMenuBulkUnlinkRequest",
}

BUBBLE_MAX_BYTES = 30 * 1024
CAROUSEL_MAX_BYTES = 50 * 1024


def _text_rule(limit: int) -> dict[str, Any]:
    return {"properties": {"text": {"type": "string", "minLength": 1, "maxUtf16Length": limit}}}


def _alt_text_rule(limit: int) -> dict[str, Any]:
    return {"properties": {"altText": {"type": "string", "minLength": 1, "maxLength": limit}}}


# LINE's reference rules the OpenAPI files leave out, added to the named schemas with allOf.
EXTRA_RULES: dict[str, list[dict[str, Any]]] = {
    "TextMessage": [_text_rule(5000)],
    "TextMessageV2": [_text_rule(5000)],
    "FlexMessage": [_alt_text_rule(1500)],
    "ImagemapMessage": [_alt_text_rule(1500)],
    "TemplateMessage": [_alt_text_rule(400)],
    "URIAction": [
        {
            "required": ["uri"],
            "properties": {"uri": {"type": "string", "minLength": 1, "maxLength": 1000}},
        }
    ],
    "PostbackAction": [{"required": ["data"]}],
    "MessageAction": [
        {"required": ["text"], "properties": {"text": {"minLength": 1, "maxLength": 300}}}
    ],
    "QuickReply": [{"required": ["items"], "properties": {"items": {"minItems": 1}}}],
    "QuickReplyItem": [{"required": ["action"]}],
    "FlexCarousel": [{"properties": {"contents": {"minItems": 1, "maxItems": 12}}}],
    "FlexBox": [{"properties": {"contents": {"type": "array"}}}],
    "PushMessageRequest": [{"properties": {"to": {"pattern": "^[UCR][0-9a-f]{32}$"}}}],
    "MulticastRequest": [
        {"properties": {"to": {"items": {"type": "string", "pattern": "^U[0-9a-f]{32}$"}}}}
    ],
    "ReplyMessageRequest": [{"properties": {"replyToken": {"minLength": 1}}}],
    # Rich menus: every property of the rich menu object is required, ≤ 20 areas.
    "RichMenuRequest": [
        {
            "required": ["size", "selected", "name", "chatBarText", "areas"],
            "properties": {
                "name": {"minLength": 1},
                "chatBarText": {"type": "string", "maxUtf16Length": 14},
                "areas": {"maxItems": 20},
            },
        }
    ],
    "RichMenuSize": [{"required": ["width", "height"]}],
    "RichMenuArea": [{"required": ["bounds", "action"]}],
    "RichMenuBounds": [{"required": ["x", "y", "width", "height"]}],
    "RichMenuSwitchAction": [{"required": ["richMenuAliasId", "data"]}],
}


def _max_utf16_length(
    validator: Validator, limit: int, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """Yield an error when a string is longer than `limit` UTF-16 code units, as LINE counts."""
    if isinstance(instance, str) and len(instance.encode("utf-16-le")) // 2 > limit:
        yield ValidationError(f"Length must be between 0 and {limit}", validator_value=limit)


_LineValidator = validators.extend(Draft202012Validator, {"maxUtf16Length": _max_utf16_length})


def _is_uri(value: object) -> bool:
    """Accept absolute URIs with a scheme (http(s) ones need a host)."""
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    if not parts.scheme:
        return False
    return bool(parts.netloc) if parts.scheme in ("http", "https") else True


# The one format LINE's files use that we check; registered by call, so it reads as used.
_formats = FormatChecker(formats=())
_formats.checks("uri")(_is_uri)


def load_spec(name: str) -> dict[str, Any]:
    """Load one of the OpenAPI files shipped in `line_simulator/openapi/`."""
    text = resources.files("line_simulator").joinpath("openapi", name).read_text("utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def _schema_name(ref: str) -> str:
    return ref.removeprefix(SCHEMAS)


def bind_discriminators(schemas: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `schemas` in which every discriminator restricts the type to its mapping."""
    out = copy.deepcopy(schemas)
    bases = {name: s for name, s in schemas.items() if "discriminator" in s}
    for name, base in bases.items():
        bare = copy.deepcopy(base)
        del bare["discriminator"]
        out[f"{name}__bare"] = bare
    for name, base in bases.items():
        prop = base["discriminator"]["propertyName"]
        mapping: dict[str, str] = base["discriminator"]["mapping"]
        out[name] = {
            "type": "object",
            "required": [prop],
            "properties": {prop: {"type": "string", "enum": list(mapping)}},
            "allOf": [
                {
                    "if": {"required": [prop], "properties": {prop: {"const": value}}},
                    "then": {"$ref": ref},
                }
                for value, ref in mapping.items()
            ],
        }
        for value, ref in mapping.items():
            sub_name = _schema_name(ref)
            sub = out[f"{sub_name}__bare"] if sub_name in bases else out[sub_name]
            for part in sub.get("allOf", []):
                if part.get("$ref") == SCHEMAS + name:
                    part["$ref"] = f"{SCHEMAS}{name}__bare"
            # Pin the subtype so a direct reference (FlexCarousel -> FlexBubble) binds too.
            sub.setdefault("allOf", []).append(
                {"required": [prop], "properties": {prop: {"const": value}}}
            )
    return out


def add_rules(schemas: dict[str, Any], rules: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Add extra constraints to named schemas (in place) and return them."""
    for name, extra in rules.items():
        target = schemas.get(f"{name}__bare", schemas[name])
        target.setdefault("allOf", []).extend(copy.deepcopy(extra))
    return schemas


def _registry(uri: str, schemas: dict[str, Any]) -> Registry:
    document = {"components": {"schemas": schemas}}
    return Registry().with_resource(uri, DRAFT202012.create_resource(document))


def _validator(uri: str, registry: Registry, schema_name: str) -> Validator:
    schema = {"$ref": f"{uri}{SCHEMAS}{schema_name}"}
    return _LineValidator(schema, registry=registry, format_checker=_formats)


@functools.cache
def messaging_validators() -> dict[str, Validator]:
    """Return the compiled request validators of each operation in OPERATIONS (built once)."""
    spec = load_spec("messaging-api.yml")
    schemas = add_rules(bind_discriminators(spec["components"]["schemas"]), EXTRA_RULES)
    registry = _registry(MESSAGING_URI, schemas)
    log.debug("compiled Messaging API request schemas")
    return {op: _validator(MESSAGING_URI, registry, name) for op, name in OPERATIONS.items()}


@functools.cache
def profile_validator() -> Validator:
    """Return a validator of the profile the simulator answers (`UserProfileResponse`)."""
    spec = load_spec("messaging-api.yml")
    return _validator(
        MESSAGING_URI,
        _registry(MESSAGING_URI, spec["components"]["schemas"]),
        "UserProfileResponse",
    )


@functools.cache
def webhook_validator() -> Validator:
    """Return a validator of webhook request bodies (`CallbackRequest` in webhook.yml)."""
    spec = load_spec("webhook.yml")
    schemas = bind_discriminators(spec["components"]["schemas"])
    return _validator(WEBHOOK_URI, _registry(WEBHOOK_URI, schemas), "CallbackRequest")


def property_path(path: Iterable[str | int]) -> str:
    """Render a JSON path as LINE does: `messages[0].contents.body`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _detail(error: ValidationError) -> dict[str, str]:
    path = list(error.absolute_path)
    kind = error.validator
    value = error.validator_value
    if kind == "required" and isinstance(error.instance, dict):
        missing = [p for p in value if p not in error.instance]
        return {"message": "must be specified", "property": property_path([*path, *missing[:1]])}
    if kind == "enum":
        message = f"must be one of {', '.join(map(str, value))}"
    elif kind == "const":
        message = f"must be {value}"
    elif kind in ("maxLength", "maxUtf16Length"):
        message = f"Length must be between 0 and {value}"
    elif kind == "minLength":
        message = "may not be empty"
    elif kind == "maxItems":
        message = f"Size must be at most {value}"
    elif kind == "minItems":
        message = f"Size must be at least {value}"
    elif kind == "pattern":
        message = "invalid format"
    elif kind == "type":
        message = f"must be {value}"
    elif kind == "format":
        message = f"must be a valid {value}"
    else:
        message = error.message
    return {"message": message, "property": property_path(path)}


def _flex_size_errors(body: dict[str, Any]) -> list[dict[str, str]]:
    """Check LINE's size caps on Flex JSON (bubble 30 KB, carousel 50 KB)."""
    errors = []
    messages = body.get("messages")
    if not isinstance(messages, list):
        return errors
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("type") != "flex":
            continue
        contents = message.get("contents")
        if not isinstance(contents, dict):
            continue
        size = len(json.dumps(contents, ensure_ascii=False, separators=(",", ":")).encode())
        kind = contents.get("type")
        if kind == "bubble" and size > BUBBLE_MAX_BYTES:
            errors.append({"message": "Size must be at most 30KB", "property": f"messages[{i}]"})
        elif kind == "carousel" and size > CAROUSEL_MAX_BYTES:
            errors.append({"message": "Size must be at most 50KB", "property": f"messages[{i}]"})
    return errors


def validate_request(operation: str, body: Any) -> list[dict[str, str]]:
    """Return LINE-shaped error details of a request body of an operation in OPERATIONS
    (empty when valid)."""
    validator = messaging_validators()[operation]
    details: list[dict[str, str]] = []
    for error in validator.iter_errors(body):
        detail = _detail(error)
        if detail not in details:
            details.append(detail)
    if not details and isinstance(body, dict):
        details = _flex_size_errors(body)
    details.sort(key=lambda d: d["property"])
    return details
