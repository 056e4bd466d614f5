"""Structured logs: one JSON object per line, with the trace id, and never PII or tokens.

Every line carries `ts`, `level`, `logger`, `message` and, inside a traced request,
`trace_id`/`span_id`. Each GraphQL request adds one line from `retailgraph.operation`:

    {"ts": "…", "level": "INFO", "logger": "retailgraph.operation", "message": "operation",
     "trace_id": "…", "span_id": "…", "request_id": "…", "operation": "Customer360",
     "type": "query", "client": "agent-desktop", "roles": ["agent"], "status": 200,
     "duration_ms": 41.7, "cost": {"requested": 152, "actual": 61},
     "upstream_calls": {"erp": 3, "servicedesk": 2}, "upstream_calls_total": 5,
     "errors": [{"code": "SOURCE_UNAVAILABLE", "path": "customer.invoices", "source": "erp"}]}

What is never logged: the query text and variables (they hold emails, names, numbers the
caller typed), error messages (they may echo input), the token or the user's id. As a second
line of defence every line is scrubbed of e-mail addresses, phone numbers, bearer tokens
and JWTs before it is written.

`RETAILGRAPH_LOG_LEVEL` (default INFO) and `RETAILGRAPH_LOG_FORMAT` (`json`, default, or
`text` for a terminal) tune it, through `graph/settings.py`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

if TYPE_CHECKING:
    from graph.tracing import OperationRecord

operation_logger = logging.getLogger("retailgraph.operation")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_JWT = re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*")
_BEARER = re.compile(r"(?i)\b(bearer|token|authorization)([\"'=:\s]+)[\w.~+/-]{8,}=*")
# Phone-like: 7+ digits, optionally grouped by spaces, dots, dashes or brackets, with a +.
_PHONE = re.compile(r"(?<![\w-])\+?\(?\d[\d\s().-]{5,}\d(?![\w-])")
_DIGITS = re.compile(r"\d")
REDACTED = "[redacted]"
# LogRecord attributes that are not caller-supplied fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "color_message",  # uvicorn's ANSI-coloured duplicate
}


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the span current in this context, if any."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


def redact(text: str) -> str:
    """Mask e-mail addresses, JWTs, bearer tokens and phone numbers in `text`."""
    text = _EMAIL.sub(REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _PHONE.sub(_phone, text)


def _phone(match: re.Match[str]) -> str:
    """Redact a phone-like run of digits, but leave dates, times and ids with few digits."""
    value = match.group(0)
    digits = len(_DIGITS.findall(value))
    if digits < 9 or re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", value.strip()):
        return value
    return REDACTED


def _scrub(value: Any) -> Any:
    """Redact strings inside a JSON-like value."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per record, trace ids included, PII scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ids = current_ids()
        if ids is not None:
            line["trace_id"], line["span_id"] = ids
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in line:
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(_scrub(line), default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """A terminal-friendly line, still scrubbed and still carrying the trace id."""

    def format(self, record: logging.LogRecord) -> str:
        """`time level logger [trace] message key=value …`."""
        ids = current_ids()
        extras = " ".join(
            f"{k}={json.dumps(v, default=str)}" for k, v in vars(record).items()
            if k not in _STANDARD and not k.startswith("_")
        )
        text = (
            f"{datetime.fromtimestamp(record.created, UTC):%H:%M:%S} {record.levelname:<7} "
            f"{record.name} [{ids[0] if ids else '-'}] {record.getMessage()} {extras}".rstrip()
        )
        if record.exc_info and record.exc_info[0] is not None:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return redact(text)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_HANDLER_NAME = "retailgraph-structured"


def formatter_for(kind: str = "json") -> logging.Formatter:
    """The formatter `RETAILGRAPH_LOG_FORMAT` asks for (json unless `text`)."""
    return TextFormatter() if kind.lower() == "text" else JsonFormatter()


def configure_logging(level: str = "INFO", kind: str = "json") -> None:
    """Send the `retailgraph.*` loggers to stderr as structured lines (once per process)."""
    root = logging.getLogger("retailgraph")
    root.setLevel(level.upper())
    if any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        return
    handler = _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter_for(kind))
    root.addHandler(handler)


def uvicorn_log_config(kind: str = "json") -> dict[str, Any]:
    """A `logging.config` dict for uvicorn's own loggers, in the same format as ours."""
    formatter = "graph.logs.TextFormatter" if kind.lower() == "text" else "graph.logs.JsonFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": formatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "structured",
                                "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        },
    }


def operation_fields(record: OperationRecord) -> dict[str, Any]:
    """The fields of an operation's log line (see the module docstring)."""
    fields: dict[str, Any] = {
        "request_id": record.request_id,
        "operation": record.name,
        "type": record.type,
        "client": record.client,
        "roles": list(record.roles),
        "status": record.status,
        "duration_ms": round(record.duration_s * 1000, 2),
        "upstream_calls": dict(record.upstream_calls),
        "upstream_calls_total": sum(record.upstream_calls.values()),
        "errors": list(record.errors),
    }
    if record.cost is not None:
        fields["cost"] = {
            "requested": record.cost.get("requestedQueryCost"),
            "actual": record.cost.get("actualQueryCost"),
        }
    if record.trace_id and current_ids() is None:
        fields["trace_id"] = record.trace_id
    return fields


def log_operation(record: OperationRecord) -> None:
    """Write the operation's one log line (WARNING when it failed outright)."""
    codes = record.error_codes
    failed = "INTERNAL" in codes or (record.status or 200) >= 500
    operation_logger.log(
        logging.WARNING if failed else logging.INFO, "operation", extra=operation_fields(record)
    )
