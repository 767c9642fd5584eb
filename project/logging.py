"""The LOGGING dict: stdout for the PaaS log drain, plus separate files for connection events and parse failures.

`mqtt.connections` goes to logs/mqtt_connections.log and `mqtt.parsing` to logs/mqtt_parsing.log, each a
size-rotated file. Several processes (worker, listener, beat) write the same files, so rotation uses
concurrent-log-handler's lock-protected handler: the standard RotatingFileHandler would let each process
rotate on its own and lose lines.

Every record is one line, so a log drain never splits an event: JSON objects when LOG_JSON is on (extra=
fields such as connection_id become keys), otherwise text with tracebacks folded onto the line.
"""

from __future__ import annotations

import logging
from pathlib import Path

TEXT_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"
JSON_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s %(message)s"
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}


class OneLineFormatter(logging.Formatter):
    """Text lines with multi-line messages and tracebacks escaped onto the one line."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "").replace("\n", "\\n")


def build_logging(*, log_dir: Path, level: str, json_lines: bool, max_bytes: int, backups: int) -> dict:
    log_dir.mkdir(parents=True, exist_ok=True)
    formatter = "json" if json_lines else "text"

    def file_handler(filename: str) -> dict:
        return {
            "class": "concurrent_log_handler.ConcurrentRotatingFileHandler",
            "filename": str(log_dir / filename),
            "maxBytes": max_bytes,
            "backupCount": backups,
            "formatter": formatter,
            "encoding": "utf-8",
            "use_gzip": False,
        }

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"()": "project.logging.OneLineFormatter", "format": TEXT_FORMAT},
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "format": JSON_FORMAT,
                "rename_fields": JSON_RENAMES,
            },
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": formatter, "stream": "ext://sys.stdout"},
            "connections_file": file_handler("mqtt_connections.log"),
            "parsing_file": file_handler("mqtt_parsing.log"),
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # propagate=True: these lines also reach stdout through the root logger.
            "mqtt.connections": {"handlers": ["connections_file"], "level": "INFO", "propagate": True},
            "mqtt.parsing": {"handlers": ["parsing_file"], "level": "INFO", "propagate": True},
            "django": {"level": level},
            "celery": {"level": level},
            "paho": {"level": "WARNING"},
            "axes": {"level": "WARNING"},  # one INFO line per login attempt otherwise
        },
    }
