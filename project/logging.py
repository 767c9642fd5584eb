"""The LOGGING dict: stdout for the PaaS log drain, plus the seed's separate files.

`mqtt.connections` goes to logs/mqtt_connections.log and `mqtt.parsing` to logs/mqtt_parsing.log, each a
size-rotated file. Several processes (worker, listener, beat) write the same files, so rotation uses
concurrent-log-handler's lock-protected handler: the standard RotatingFileHandler would let each process
rotate on its own and lose lines.
"""
from __future__ import annotations

from pathlib import Path

TEXT_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"
JSON_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s %(message)s"


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
            "text": {"format": TEXT_FORMAT},
            "json": {"()": "pythonjsonlogger.json.JsonFormatter", "format": JSON_FORMAT},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": formatter},
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
        },
    }
