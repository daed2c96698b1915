"""Logs an operator can read with a machine: one JSON object a line, each carrying the id of the
request it belongs to.

``configure_logging("json" | "text", level)`` sets the root logger of a ``docex serve`` or
``docex worker`` process: every record (docex's, uvicorn's, the libraries') goes through one
handler on stderr. A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``,
``message``, ``request_id`` when the record was written while a request was being served, the
fields a caller passed with ``extra=`` (the access log's ``method``, ``route``, ``status``...),
and ``exception`` with the traceback when there is one.

The request id lives in a context variable (:data:`request_id`), set by the HTTP layer for the
duration of one request; worker threads started for that request inherit it, because
Starlette's thread pool copies the caller's context. Nothing here reads a request: what gets
logged is what callers choose to log, and the access log names a route template and a
principal id, never a header, a query string or a token.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["json", "text"]

request_id: ContextVar[str | None] = ContextVar("docex_request_id", default=None)

# What a client may send as its own request id: printable, short, no spaces or quotes (it is
# echoed in a header and written in logs). Anything else is replaced by one of ours.
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}", re.ASCII)

# Attributes every LogRecord has: the rest came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
    "taskName",
}


def well_formed_request_id(value: str | None) -> bool:
    return value is not None and _REQUEST_ID.fullmatch(value) is not None


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id (``None`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")


def configure_logging(fmt: LogFormat, level: str) -> None:
    """One handler on stderr for the whole process, in ``fmt``; replaces any handler before."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's own loggers write through the root handler; its access log is replaced by
    # docex's (route templates, principals, request ids).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # One line per outgoing request, URL included, at INFO: noise, and a URL is not ours to log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
