"""Where log records go ([log] file), how they look ([log] format), and the one line each
viewer's connection leaves when it ends."""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
from typing import Any, TextIO

import attrs

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The LogRecord attribute holding a record's fields (``extra={FIELDS: {...}}``): the json
#: format gives them as keys of their own, the text format has them in the message.
FIELDS = "fields"
#: A log file vncd creates is readable by its group (an operator's), not by everyone.
FILE_MODE = 0o640


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger and message, the
    record's fields, and the traceback as ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, FIELDS, {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def open_log_file(path: str) -> TextIO:
    """``path`` for appending (line-buffered), created with FILE_MODE if missing; an existing
    file keeps its mode."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.fchmod(fd, FILE_MODE)  # the umask may have taken the group's bit away
    except FileExistsError:
        fd = os.open(path, flags)
    return os.fdopen(fd, "a", encoding="utf-8", buffering=1)


def configure(level: str, form: str, file: str) -> None:
    """Send the root logger's records at ``level`` and above to ``file`` (appended; "" =
    standard error) in the ``form`` of FORMATS. OSError when the file cannot be opened."""
    stream = open_log_file(file) if file else sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if form == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])


@attrs.frozen
class ConnectionSummary:
    """What one viewer's connection was, logged once when it ends."""

    peer: str
    transport: str  # "tcp", "tls", "websocket" or "wss"
    security: str  # the security type's name; "" when the viewer was not admitted
    user: str  # the user it logged in as; "" when none was named
    encodings: tuple[str, ...]  # the viewer's SetEncodings, by name, in its order
    duration_seconds: float
    bytes_sent: int
    bytes_received: int

    def fields(self) -> dict[str, Any]:
        """The record's fields, as JSON gives them (the encodings a list)."""
        fields = {"event": "connection ended", **attrs.asdict(self)}
        return fields | {"encodings": list(self.encodings)}

    def log(self, logger: logging.Logger) -> None:
        user = f" user={self.user}" if self.user else ""
        logger.info(
            "%s: connection ended: transport=%s security=%s%s encodings=%s duration=%.3fs "
            "sent=%d received=%d",
            self.peer,
            self.transport,
            self.security or "-",
            user,
            ",".join(self.encodings) or "-",
            self.duration_seconds,
            self.bytes_sent,
            self.bytes_received,
            extra={FIELDS: self.fields()},
        )
