"""A small OData v4 query-option engine: $filter, $select, $orderby, $top/$skip, paging."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_FILTER_LENGTH = 2048  # the real product's URL limit makes long `or` chains fail
Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>[(),])
    )""", re.VERBOSE)
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
}
_FLIPPED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
_FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda v, s: s in v, "startswith": lambda v, s: v.startswith(s),
    "endswith": lambda v, s: v.endswith(s),
}


class ODataError(ValueError):
    """A query option the service refuses (HTTP 400)."""


@dataclass(frozen=True)
class Literal:
    """A constant in a filter expression."""

    value: Any


@dataclass
class Filter:
    """A compiled $filter: the row predicate plus equality keys usable with indexes."""

    predicate: Predicate
    keys: dict[str, set[Any]] | None = None


@dataclass
class QueryOptions:
    """Parsed system query options of one request."""

    filter: Filter | None = None
    select: list[str] | None = None
    orderby: list[tuple[str, bool]] = field(default_factory=list)
    top: int | None = None
    skip: int = 0
    skiptoken: str | None = None
    count: bool = False
    expand: list[str] = field(default_factory=list)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ODataError(f"Syntax error at position {position} in '{text}'.")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent: or < and < not < comparison / function / parentheses."""

    def __init__(self, text: str, fields: Collection[str]) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.fields = fields

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (expected is not None and token[1].lower() != expected):
            raise ODataError(f"Expected '{expected or 'a term'}' in $filter.")
        self.index += 1
        return token

    def at_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "name" and token[1].lower() == word

    def parse(self) -> Filter:
        result = self.disjunction()
        if self.peek() is not None:
            raise ODataError(f"Unexpected '{self.peek()[1]}' in $filter.")  # type: ignore[index]
        return result

    def disjunction(self) -> Filter:
        parts = [self.conjunction()]
        while self.at_word("or"):
            self.take()
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        predicates = [p.predicate for p in parts]
        keys: dict[str, set[Any]] | None = None
        if all(p.keys for p in parts):
            # A row matching an `or` matches one part, so it is in the union of that field's
            # values, for any field every part constrains: serve `or` chains from an index.
            common = set.intersection(*(set(p.keys) for p in parts if p.keys))
            keys = {name: set().union(*(p.keys[name] for p in parts if p.keys))
                    for name in common} or None
        return Filter(lambda row: any(p(row) for p in predicates), keys)

    def conjunction(self) -> Filter:
        parts = [self.negation()]
        while self.at_word("and"):
            self.take()
            parts.append(self.negation())
        if len(parts) == 1:
            return parts[0]
        predicates = [p.predicate for p in parts]
        keys: dict[str, set[Any]] = {}
        for part in parts:
            for name, values in (part.keys or {}).items():
                keys[name] = keys[name] & values if name in keys else set(values)
        return Filter(lambda row: all(p(row) for p in predicates), keys or None)

    def negation(self) -> Filter:
        if self.at_word("not"):
            self.take()
            inner = self.negation().predicate
            return Filter(lambda row: not inner(row))
        return self.primary()

    def primary(self) -> Filter:
        token = self.peek()
        if token == ("punct", "("):
            self.take()
            inner = self.disjunction()
            self.take(")")
            return inner
        if token is not None and token[0] == "name" and token[1].lower() in _FUNCTIONS:
            return self.function()
        return self.comparison()

    def function(self) -> Filter:
        name = self.take()[1].lower()
        self.take("(")
        field_name = self.field()
        self.take(",")
        needle = self.literal()
        self.take(")")
        if not isinstance(needle, str):
            raise ODataError(f"{name}() needs a string literal.")
        test, needle_folded = _FUNCTIONS[name], needle.casefold()

        def predicate(row: dict[str, Any]) -> bool:
            value = row.get(field_name)
            return isinstance(value, str) and test(value.casefold(), needle_folded)

        return Filter(predicate)

    def field(self) -> str:
        kind, text = self.take()
        if kind != "name" or text in ("true", "false", "null"):
            raise ODataError(f"Expected a property name, found '{text}'.")
        if text not in self.fields:
            raise ODataError(f"Could not find a property named '{text}'.")
        return text

    def literal(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return Decimal(text)
        if kind in ("guid", "date"):
            return text
        if kind == "datetime":
            return text.replace("+00:00", "Z")
        if kind == "name" and text.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text.lower()]
        raise ODataError(f"Expected a literal, found '{text}'.")

    def operand(self) -> str | Literal:
        token = self.peek()
        if token is not None and token[0] == "name" and token[1].lower() not in (
                "true", "false", "null"):
            return self.field()
        return Literal(self.literal())

    def comparison(self) -> Filter:
        left = self.operand()
        if isinstance(left, str) and self.at_word("in"):
            self.take()
            self.take("(")
            self.literal()
            while self.peek() == ("punct", ","):
                self.take()
                self.literal()
            self.take(")")
            # The real product documents `in` but ignores it: every row matches.
            return Filter(lambda row: True)
        kind, op = self.take()
        op = op.lower()
        if kind != "name" or op not in _COMPARISONS:
            raise ODataError(f"Unknown operator '{op}' in $filter.")
        right = self.operand()
        if isinstance(left, Literal) and isinstance(right, str):
            left, right, op = right, left, _FLIPPED[op]
        if not isinstance(left, str) or not isinstance(right, Literal):
            raise ODataError("A comparison needs a property and a literal.")
        return _compare(left, op, right.value)


def _compare(field_name: str, op: str, literal: Any) -> Filter:
    compare = _COMPARISONS[op]

    def predicate(row: dict[str, Any]) -> bool:
        value = row.get(field_name)
        if value is None or literal is None:
            return compare(value is None, literal is None) if op in ("eq", "ne") else False
        if isinstance(value, bool) != isinstance(literal, bool) or \
                isinstance(value, str) != isinstance(literal, str):
            raise ODataError(f"Incompatible types in comparison on '{field_name}'.")
        return bool(compare(value, literal))

    keys = {field_name: {literal}} if op == "eq" and literal is not None else None
    return Filter(predicate, keys)


def parse_filter(text: str, fields: Collection[str]) -> Filter:
    """Compile a $filter expression against the given property names."""
    if len(text) > MAX_FILTER_LENGTH:
        raise ODataError(f"The $filter expression is longer than {MAX_FILTER_LENGTH} characters.")
    if not text.strip():
        raise ODataError("The $filter expression is empty.")
    return _Parser(text, fields).parse()


def _names(text: str, option: str, allowed: Collection[str]) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        if name not in allowed:
            raise ODataError(f"Could not find a property named '{name}' ({option}).")
    return names


def parse_orderby(text: str, fields: Collection[str]) -> list[tuple[str, bool]]:
    """`field [asc|desc], …` as (field, descending) pairs."""
    spec = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in
                                           ("asc", "desc")):
            raise ODataError(f"Invalid $orderby clause '{part.strip()}'.")
        _names(words[0], "$orderby", fields)
        spec.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return spec


def apply_orderby(rows: list[dict[str, Any]], spec: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Stable multi-key sort; nulls sort first ascending, as SQL Server does."""
    ordered = list(rows)
    for name, descending in reversed(spec):
        def key(row: dict[str, Any], name: str = name) -> tuple[bool, Any]:
            value = row.get(name)
            return (False, 0) if value is None else (True, value)
        ordered.sort(key=key, reverse=descending)
    return ordered


def _integer(name: str, text: str, maximum: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ODataError(f"Invalid value '{text}' for {name}.") from None
    if value < 0 or (maximum is not None and value > maximum):
        raise ODataError(f"Value '{text}' for {name} is out of range.")
    return value


def parse_query(params: Mapping[str, str], fields: Collection[str],
                expandable: Collection[str] = ()) -> QueryOptions:
    """Parse the system query options of one request; unknown $options are refused."""
    options = QueryOptions()
    for key in params:
        if key.startswith("$") and key not in (
                "$filter", "$select", "$orderby", "$top", "$skip", "$skiptoken", "$count",
                "$expand", "$format", "$schemaversion"):
            raise ODataError(f"The query parameter '{key}' is not supported.")
    if "$filter" in params:
        options.filter = parse_filter(params["$filter"], fields)
    if "$select" in params:
        options.select = _names(params["$select"], "$select", fields)
    if "$orderby" in params:
        options.orderby = parse_orderby(params["$orderby"], fields)
    if "$top" in params:
        options.top = _integer("$top", params["$top"])
    if "$skip" in params:
        options.skip = _integer("$skip", params["$skip"])
    options.skiptoken = params.get("$skiptoken")
    count = params.get("$count", "false").lower()
    if count not in ("true", "false"):
        raise ODataError("$count must be true or false.")
    options.count = count == "true"
    if "$expand" in params:
        options.expand = _names(params["$expand"], "$expand", expandable)
    return options


def to_decimal(value: Any) -> Decimal:
    """Read a JSON number as a Decimal, refusing anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ODataError(f"'{value}' is not a number.")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ODataError(f"'{value}' is not a number.") from None
