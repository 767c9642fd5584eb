"""A private Mosquitto broker for tests that need their own (auth, TLS, one to kill and restart)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.helpers import Process, free_port, port_open, wait_for


def mosquitto_binary() -> str:
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class MosquittoBroker:
    def __init__(
        self,
        folder: Path,
        *,
        users: dict[str, str] | None = None,
        port: int | None = None,
        persistence: bool = False,
        extra_config: str = "",
    ) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.users = users
        self.persistence = persistence
        self.extra_config = extra_config
        self.process: Process | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def _write_config(self) -> Path:
        lines = [f"listener {self.port} 127.0.0.1", "max_queued_messages 100000"]
        if os.geteuid() == 0:
            # Started as root, Mosquitto drops to the `mosquitto` user, which cannot read the password
            # file or certificates root wrote in the test's folder.
            lines.append("user root")
        if self.users:
            passwd = self.folder / "passwd"
            passwd.write_text("")
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
            passwd.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.folder}/"]
        else:
            lines.append("persistence false")
        if self.extra_config:
            lines.append(self.extra_config)
        config = self.folder / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> None:
        config = self._write_config()
        self.process = Process(
            [mosquitto_binary(), "-c", str(config)],
            env={"PATH": "/usr/sbin:/usr/bin:/bin"},
            log_path=self.folder / "mosquitto.log",
        )
        wait_for(lambda: port_open(self.port), timeout=10, what=f"mosquitto on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=5)
            self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
