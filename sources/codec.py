"""A small, explicit codec for cached entities crossing the network (the shared Redis cache).

Cached values are canonical records (`sources/records.py`), tuples of them, and a few plain
values. They are written as tagged JSON, and only the record and enum classes registered
here can be rebuilt: a value from the network never names arbitrary code (no pickle).

    {"$rec": "Order", "f": {...}}   a registered frozen dataclass, by field name
    {"$enum": ["OrderStatus", "OPEN"]}
    {"$dec": "12.30"}  {"$date": "2026-01-31"}  {"$dt": "2026-01-31T10:00:00+00:00"}
    {"$tuple": [...]}  {"$map": [[key, value], ...]}   JSON arrays are lists

`SCHEMA` fingerprints the registered classes and their fields; shared keys carry it, so a
deployment whose records changed shape never reads entries written by the previous one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

import orjson

from . import records

VERSION = 1


class CodecError(ValueError):
    """A value that cannot be written, or bytes that are not a value this codec wrote."""


def _registered() -> tuple[dict[str, type[Any]], dict[str, type[Enum]]]:
    """Every frozen dataclass and enum the records module defines, by class name."""
    classes: dict[str, type[Any]] = {}
    enums: dict[str, type[Enum]] = {}
    for name, value in sorted(vars(records).items()):
        if not isinstance(value, type) or value.__module__ != records.__name__:
            continue
        if issubclass(value, Enum):
            enums[name] = value
        elif dataclasses.is_dataclass(value):
            classes[name] = value
    return classes, enums


RECORDS, ENUMS = _registered()
_FIELDS = {name: tuple(f.name for f in dataclasses.fields(cls)) for name, cls in RECORDS.items()}


def _fingerprint() -> str:
    shape = [f"{name}({','.join(fields)})" for name, fields in sorted(_FIELDS.items())]
    shape += [f"{name}[{','.join(m.name for m in cls)}]" for name, cls in sorted(ENUMS.items())]
    digest = hashlib.sha256(";".join(shape).encode()).hexdigest()[:12]
    return f"v{VERSION}-{digest}"


SCHEMA = _fingerprint()


def encode(value: Any) -> bytes:
    """Tagged JSON bytes for a cacheable value; CodecError for anything unregistered."""
    try:
        return orjson.dumps(_dump(value))
    except TypeError as exc:  # orjson refuses what _dump let through (e.g. a huge int)
        raise CodecError(str(exc)) from exc


def decode(data: bytes | str) -> Any:
    """The value `encode` wrote; CodecError for anything else."""
    try:
        return _load(orjson.loads(data))
    except orjson.JSONDecodeError as exc:
        raise CodecError(f"not JSON: {exc}") from exc
    except (TypeError, ValueError, KeyError, InvalidOperation) as exc:
        raise CodecError(f"not a cached value: {type(exc).__name__}: {exc}") from exc


def encode_key(key: Any) -> str:
    """A cache key (str or int) as text that keeps its type: `"C-10001"` vs `123`."""
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise CodecError(f"cache keys are strings or integers, not {type(key).__name__}")
    return orjson.dumps(key).decode()


def decode_key(text: str) -> str | int:
    """The key `encode_key` wrote."""
    key = orjson.loads(text)
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise CodecError(f"not a cache key: {text!r}")
    return key


def _dump(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Enum):
        name = type(value).__name__
        if ENUMS.get(name) is not type(value):
            raise CodecError(f"unregistered enum {name}")
        return {"$enum": [name, value.value]}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, tuple):
        return {"$tuple": [_dump(item) for item in value]}
    if isinstance(value, list):
        return [_dump(item) for item in value]
    if isinstance(value, dict):
        return {"$map": [[_dump(k), _dump(v)] for k, v in value.items()]}
    name = type(value).__name__
    if RECORDS.get(name) is type(value):
        return {"$rec": name, "f": {f: _dump(getattr(value, f)) for f in _FIELDS[name]}}
    raise CodecError(f"cannot encode {name}")


def _load(data: Any) -> Any:
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [_load(item) for item in data]
    if not isinstance(data, dict) or len(data) not in (1, 2):
        raise CodecError("untagged object")
    if "$rec" in data:
        name = data["$rec"]
        cls = RECORDS.get(name) if isinstance(name, str) else None
        fields = data.get("f")
        if cls is None or not isinstance(fields, dict) or set(fields) != set(_FIELDS[name]):
            raise CodecError(f"unknown record or fields: {name!r}")
        return cls(**{key: _load(item) for key, item in fields.items()})
    ((tag, body),) = data.items()
    if tag == "$tuple" and isinstance(body, list):
        return tuple(_load(item) for item in body)
    if tag == "$map" and isinstance(body, list):
        return {_load(k): _load(v) for k, v in body}
    if tag == "$dec" and isinstance(body, str):
        return Decimal(body)
    if tag == "$dt" and isinstance(body, str):
        return datetime.fromisoformat(body)
    if tag == "$date" and isinstance(body, str):
        return date.fromisoformat(body)
    if tag == "$enum" and isinstance(body, list) and len(body) == 2:
        enum = ENUMS.get(body[0]) if isinstance(body[0], str) else None
        if enum is None:
            raise CodecError(f"unknown enum {body[0]!r}")
        return enum(body[1])
    raise CodecError(f"unknown tag {tag!r}")
