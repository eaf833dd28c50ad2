"""structlog configured once, at the entry point: JSON in production, console in development.

Every line goes through the same processors, the standard library's too (aiohttp, asyncio,
uvloop log through ``logging``): a ``ProcessorFormatter`` on the root handler renders them as
structlog renders its own, so ``--log-format json`` means every line is JSON. Context bound with
``structlog.contextvars`` (request id and path per HTTP request, worker id per worker socket,
task id and attempt while a result or failure is handled) appears on every line logged under it.
"""
from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    numeric = getattr(logging, level.upper(), None)
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    renderer = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    shared = [structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
              structlog.processors.TimeStamper(fmt="iso", utc=True)]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer]))
    root = logging.getLogger()
    root.handlers = [handler]
    # Libraries are chatty at INFO (aiohttp's access log): their warnings and errors are enough.
    root.setLevel(max(numeric, logging.WARNING))
