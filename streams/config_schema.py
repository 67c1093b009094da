"""The configuration as plain data and as a JSON Schema, both derived from the settings dataclasses themselves.

Why derived: the dataclasses (types, defaults, the ranges in their field metadata, the ``#:`` comment above each
field) are the one place a setting is declared. ``inferwatch config show`` prints ``as_plain(settings)``;
``inferwatch config schema`` prints ``json_schema()``, committed as ``docs/config.schema.json`` so editors
(VS Code's YAML extension, JetBrains) complete and check a config file; a test keeps that copy current.

>>> from inferwatch.streams.config import KafkaSettings
>>> schema = json_schema()
>>> schema["$defs"]["KafkaSettings"]["properties"]["partitions"]["minimum"]
1
>>> as_plain(KafkaSettings(bootstrap="k:9093"))["bootstrap"]
'k:9093'
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import re
import types
import typing
from functools import cache
from typing import Any

from inferwatch.streams.config import CONFIG_ENV, ENV_OVERRIDES, Settings

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: what a secret (a field declared with ``repr=False``) shows instead of its value
REDACTED = "<redacted>"
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]*):[^@/\s]+@")
#: the JSON Schema keyword of each range check a field may declare in its metadata (pydantic applies them on load)
JSON_SCHEMA_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def as_plain(value: Any, redact: bool = True) -> Any:
    """Dataclasses as dicts, tuples as lists; secrets (``repr=False`` fields, passwords in URLs) redacted."""
    if dataclasses.is_dataclass(value):
        return {f.name: _secret(getattr(value, f.name)) if redact and not f.repr else
                as_plain(getattr(value, f.name), redact) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [as_plain(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: as_plain(v, redact) for k, v in value.items()}
    if redact and isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", value)
    return value


def _secret(value: Any) -> Any:
    return REDACTED if value else value


def json_schema(root: type = Settings) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a config file whose top level is ``root``."""
    defs: dict[str, Any] = {}
    top = _object_schema(root, defs)
    return {"$schema": SCHEMA_DIALECT, "title": "inferwatch configuration", **top,
            "$defs": dict(sorted(defs.items()))}


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    properties, required = {}, []
    for f in (f for f in dataclasses.fields(cls) if f.init):
        prop = _type_schema(hints[f.name], defs)
        prop.update({JSON_SCHEMA_BOUNDS[k]: v for k, v in f.metadata.items() if k in JSON_SCHEMA_BOUNDS})
        if f.name in docs:
            prop["description"] = docs[f.name]
        if f.default is not dataclasses.MISSING:
            prop["default"] = as_plain(f.default, redact=False)
        elif f.default_factory is not dataclasses.MISSING and not dataclasses.is_dataclass(hints[f.name]):
            prop["default"] = as_plain(f.default_factory(), redact=False)
        elif f.default_factory is dataclasses.MISSING:
            required.append(f.name)
        properties[f.name] = prop
    schema: dict[str, Any] = {"type": "object"}
    if _docstring(cls):
        schema["description"] = _docstring(cls)
    schema.update(properties=properties, additionalProperties=False)
    if required:
        schema["required"] = required
    return schema


def _type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(arg, defs) for arg in args]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if dataclasses.is_dataclass(tp):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # placeholder first: a class may refer to itself
            defs[tp.__name__] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    if origin in (list, tuple):
        return {"type": "array", "items": _type_schema(args[0], defs) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1], defs) if len(args) == 2 else {}}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
    return {"type": simple[tp]} if tp in simple else {}


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The ``#:`` comment lines right above each field of ``cls`` (the Sphinx convention), joined into one line.

    >>> from inferwatch.streams.config import KafkaSettings
    >>> field_docs(KafkaSettings)["partitions"]
    'partitions created for our topics when they do not exist yet; scale-out is more partitions + more workers'
    """
    docs: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(cls).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        name = re.match(r"(\w+)\s*:", stripped)
        if name and pending:
            docs[name.group(1)] = " ".join(pending)
        pending = []
    return docs


def _docstring(cls: type) -> str:
    """The first paragraph of the class docstring, unless it is the signature dataclasses writes for a class without."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    if doc.startswith(f"{cls.__name__}("):
        return ""
    return " ".join(doc.split("\n\n")[0].split())


#: the generated reference sits between these lines of docs/configuration.md
REFERENCE_BEGIN = "<!-- reference: generated by `inferwatch config schema --docs`; do not edit by hand -->"
REFERENCE_END = "<!-- end of reference -->"
_BOUND_SIGNS = {"exclusiveMinimum": ">", "minimum": ">=", "exclusiveMaximum": "<", "maximum": "<="}


def reference_markdown(schema: dict[str, Any] | None = None) -> str:
    """Every key of the config file as Markdown tables, one per section: type, default, range, description.

    >>> print(reference_markdown().split("### `kafka`")[1].splitlines()[4])
    | `kafka.bootstrap` | string | `localhost:9092` |  |  |
    """
    schema = schema or json_schema()
    rows: list[tuple[str, dict[str, Any]]] = []
    _walk(schema, schema, "", rows)
    sections: dict[str, list[str]] = {}
    for key, prop in rows:
        sections.setdefault(key.split(".")[0], []).append(
            f"| `{key}` | {_type_name(prop)} | {_default(prop)} | {_range(prop)} | {_cell(prop.get('description', ''))} |")
    header = "| key | type | default | range | meaning |\n| --- | --- | --- | --- | --- |"
    return "\n\n".join([_env_table(), *(f"### `{name}`\n\n{header}\n" + "\n".join(lines)
                                       for name, lines in sections.items())])


def _env_table() -> str:
    rows = [f"| `{CONFIG_ENV}` | the YAML file (the `--config` flag wins over it) |",
            *(f"| `{var}` | `{key}` |" for var, key in ENV_OVERRIDES.items())]
    return "### Environment variables\n\n| variable | overrides |\n| --- | --- |\n" + "\n".join(rows)


def _walk(schema: dict, node: dict, prefix: str, rows: list) -> None:
    for name, prop in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        target, suffix = _nested(schema, prop)
        if target is None or suffix:
            rows.append((key, prop))
        if target is not None:
            _walk(schema, target, f"{key}{suffix}.", rows)


def _nested(schema: dict, prop: dict) -> tuple[dict | None, str]:
    """The object schema under a property (itself, its list items, its map values) and how its keys are written."""
    for inner, suffix in ((prop, ""), (prop.get("items", {}), "[]"), (prop.get("additionalProperties"), ".<name>")):
        if isinstance(inner, dict) and "$ref" in inner:
            return schema["$defs"][inner["$ref"].rsplit("/", 1)[1]], suffix
    return None, ""


def _type_name(prop: dict) -> str:
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if prop.get("type") == "array":
        return f"list of {_type_name(prop['items'])}"
    if prop.get("type") == "object":
        return f"map of {_type_name(prop['additionalProperties'])}"
    if "$ref" in prop:
        return "section"
    if "anyOf" in prop:
        return " or ".join(_type_name(p) for p in prop["anyOf"])
    return prop.get("type", "any")


def _default(prop: dict) -> str:
    if "default" not in prop:
        return "required" if "$ref" not in prop else ""
    text = prop["default"] if isinstance(prop["default"], str) else json.dumps(prop["default"])
    return _cell(f"`{text}`") if text != "" else '`""`'


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _range(prop: dict) -> str:
    return ", ".join(f"{sign} {prop[k]}" for k, sign in _BOUND_SIGNS.items() if k in prop)


def with_reference(doc: str, schema: dict[str, Any] | None = None) -> str:
    """``doc`` (the text of docs/configuration.md) with its generated reference section replaced by a fresh one."""
    if REFERENCE_BEGIN not in doc or REFERENCE_END not in doc.split(REFERENCE_BEGIN, 1)[1]:
        raise ValueError(f"the page has no reference section: add the lines {REFERENCE_BEGIN} and {REFERENCE_END}")
    head, rest = doc.split(REFERENCE_BEGIN, 1)
    _, tail = rest.split(REFERENCE_END, 1)
    return f"{head}{REFERENCE_BEGIN}\n\n{reference_markdown(schema)}\n\n{REFERENCE_END}{tail}"
