"""Structured logs: one JSON object per line (LOG_FORMAT=json)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RedactSetPasswordLinks(logging.Filter):
    """A new account's set-password link is a secret until used: the development server's
    request lines (logger django.server) name it as the path, so it is cut out of them."""

    LINK = re.compile(r"/accounts/welcome/[^/\s\"]+/[^/\s\"]+/")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.LINK.search(message):
            record.msg, record.args = self.LINK.sub("/accounts/welcome/…/", message), ()
        return True
