"""Logging set-up: JSON lines through structlog, for operators' log collectors."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


def configure_json_logging(stream: TextIO | None = None, *, level: int = logging.INFO) -> None:
    """Log every structlog event as one JSON object per line, with an ISO timestamp and the level."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
    # APScheduler logs through the standard library: keep its warnings (missed runs) visible.
    logging.basicConfig(stream=stream or sys.stdout, level=logging.WARNING, format="%(message)s")
