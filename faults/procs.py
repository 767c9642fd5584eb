"""Real processes for tests and tools: wait for a condition, free ports, child process handles, and PRIVATE
services on free loopback ports (Mosquitto, Redis, a PostgreSQL cluster, a RabbitMQ vhost) that a fault can
stop, kill or restart without touching the machine's shared ones."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition!r} (last value: {last!r})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class Process:
    """A child process with its output in a log file, stopped (and its group killed) by `stop()`."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, cwd: Path = ROOT) -> None:
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group (a crash: nothing gets to clean up)."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._log.close()

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
        return self.popen.returncode


def manage_py(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), *args]


def celery_bin() -> str:
    return str(Path(sys.executable).with_name("celery"))


def worker_command(
    name: str, queues: str = "ingest,control,default", pool: str = "prefork", extra: tuple[str, ...] = ()
) -> list[str]:
    """A real Celery worker with one child on this product's queues, named `name`."""
    return [celery_bin(), "-A", "project", "worker", "-Q", queues, "--concurrency", "1", "--pool", pool,
            "--loglevel", "INFO", "--without-gossip", "--without-mingle", "-n", name, *extra]  # fmt: skip


class Service:
    """A server run as one child process: `stop()` is a graceful SIGTERM, `kill()` a crash."""

    stop_timeout = 5.0
    process: Process | None = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=self.stop_timeout)
            self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None


# --- Mosquitto --------------------------------------------------------------------------------------------
def mosquitto_binary() -> str:
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class MosquittoBroker(Service):
    """A private Mosquitto. `max_queued`: messages kept per offline or slow QoS 1 client (None: Mosquitto's own
    default, 1,000, what most site brokers run; 0: unlimited, to isolate the product's own losses)."""

    def __init__(
        self,
        folder: Path,
        *,
        users: dict[str, str] | None = None,
        port: int | None = None,
        persistence: bool = False,
        max_queued: int | None = 100_000,
        extra_config: str = "",
    ) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.users = users
        self.persistence = persistence
        self.max_queued = max_queued
        self.extra_config = extra_config
        self.process: Process | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def _write_config(self) -> Path:
        lines = [f"listener {self.port} 127.0.0.1"]
        if self.max_queued is not None:
            lines.append(f"max_queued_messages {self.max_queued}")
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
            [mosquitto_binary(), "-c", str(config)], env={"PATH": SYSTEM_PATH}, log_path=self.folder / "mosquitto.log"
        )
        wait_for(lambda: port_open(self.port), timeout=10, what=f"mosquitto on port {self.port}")

    def restart(self) -> None:
        """SIGTERM and start: with persistence, Mosquitto writes its sessions and queued messages to disk first."""
        self.stop()
        self.start()


# --- Redis ------------------------------------------------------------------------------------------------
class RedisServer(Service):
    """A private redis-server. `aof`: None (no append-only file; a graceful stop, SIGTERM, still writes an RDB
    snapshot: Redis's default `save` points), or the appendfsync policy ("always", "everysec")."""

    stop_timeout = 30.0  # it saves before it exits

    def __init__(self, folder: Path, *, aof: str | None = None, port: int | None = None) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.aof = aof
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        if self.aof:
            args += ["--appendonly", "yes", "--appendfsync", self.aof]
        self.process = Process(args, env={"PATH": SYSTEM_PATH}, log_path=self.folder / "redis.log")
        wait_for(lambda: port_open(self.port), timeout=10, what=f"redis-server on port {self.port}")


# --- PostgreSQL -------------------------------------------------------------------------------------------
def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    return Path(found[-1]) if found else None


class PostgresCluster:
    """A private PostgreSQL cluster (initdb + pg_ctl) on a free port, run as the `postgres` OS user when
    started as root (PostgreSQL refuses to run as root). Its folder is under /tmp itself: pytest's tmp_path
    sits below a root-only folder the postgres user cannot enter."""

    def __init__(self, database: str = "mqttmon_faults") -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin)")
        self.bin = bin_dir
        self.database = database
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=timeout, cwd=self.folder)

    def create(self) -> None:
        """initdb, start, and create the product's database."""
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8", "--locale", "C")  # fmt: skip
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", self.database)

    def start(self) -> None:
        # fsync off: a throwaway cluster on a shared disk; stops are clean (`-m fast`), so nothing relies on it.
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are ended and the cluster shuts down cleanly, as a restart for maintenance does."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.running():
            try:
                self.stop(mode="immediate")
            except subprocess.SubprocessError:
                pass  # already gone
        shutil.rmtree(self.folder, ignore_errors=True)


# --- RabbitMQ ---------------------------------------------------------------------------------------------
class RabbitVhost:
    """A private vhost on the machine's RabbitMQ (never restarted here): its queues are this run's alone, and
    deleting the vhost deletes them."""

    def __init__(self, name: str, host: str = "127.0.0.1", port: int = 5672, user: str = "guest") -> None:
        self.name = name
        self.host = host
        self.port = port
        self.user = user  # RabbitMQ's default user; its password is the same by default
        self.password = user

    @staticmethod
    def available(port: int = 5672) -> bool:
        return shutil.which("rabbitmqctl", path=SYSTEM_PATH) is not None and port_open(port)

    @property
    def url(self) -> str:
        return f"amqp://{self.user}:{self.password}@{self.host}:{self.port}/{self.name}"

    def _ctl(self, *args: str) -> str:
        done = subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=60)
        return done.stdout

    def create(self) -> None:
        self._ctl("add_vhost", self.name)
        self._ctl("set_permissions", "-p", self.name, self.user, ".*", ".*", ".*")

    def ready(self, queue: str) -> int:
        """Messages waiting in `queue` (a passive declare: cheap, unlike a rabbitmqctl call, an Erlang VM each).
        Unacknowledged ones are not counted: RabbitMQ requeues those itself when their consumer goes."""
        import amqp

        connection = amqp.Connection(
            f"{self.host}:{self.port}",
            userid=self.user,
            password=self.password,
            virtual_host=self.name,
            connect_timeout=2,
        )
        connection.connect()
        try:
            declared = connection.channel().queue_declare(queue, passive=True)
            assert declared is not None  # a passive declare answers, or raises NotFound
            return int(declared[1])  # (queue, message_count, consumer_count)
        finally:
            connection.close()

    def delete(self) -> None:
        try:
            self._ctl("delete_vhost", self.name)
        except subprocess.SubprocessError:
            pass  # never created, or already gone
