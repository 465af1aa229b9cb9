"""A real Apache Kafka broker on this machine, without Docker.

Edge adapter: resolves the broker jars with Maven (``deploy/kafka/pom.xml``),
writes a single-node KRaft configuration into a data directory, formats the
storage once and runs ``kafka.Kafka`` as a detached JVM. State lives on disk
(``<data_dir>/kafka.pid``, ``server.properties``), so a second ``LocalKafka``
pointed at the same data directory (for instance ``ers kafka stop`` from
another shell) sees and controls the same broker.

Typical use::

    kafka = LocalKafka(Path("var/kafka"))
    kafka.start()            # downloads jars the first time, waits until ready
    kafka.bootstrap          # "127.0.0.1:9092"
    kafka.stop()

Environment overrides: ``ERS_KAFKA_VERSION``, ``ERS_KAFKA_CACHE`` (replaces
``~/.cache/ers/kafka``; jars go to ``<cache>/<version>/libs``),
``ERS_KAFKA_HEAP`` (JVM heap flags, e.g. ``"-Xms512m -Xmx1g"``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

KAFKA_VERSION = "4.4.0"
HOST = "127.0.0.1"
DEFAULT_PORT = 9092
DEFAULT_CONTROLLER_PORT = 9093
DEFAULT_HEAP = "-Xms256m -Xmx512m"
NODE_ID = 1

# What kafka-run-class.sh passes, minus the heap (see ERS_KAFKA_HEAP).
JVM_FLAGS: tuple[str, ...] = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)

POM_PATH = Path(__file__).resolve().parent.parent / "kafka" / "pom.xml"
JARS_MARKER = ".complete"
FORMATTED_WITH = "formatted-with-version"
STOP_GRACE_SECONDS = 30.0
LOG_TAIL_LINES = 40

log = logging.getLogger("ers.kafka")


class LocalKafkaError(RuntimeError):
    """The local broker could not be provisioned, started or stopped."""


@dataclass(frozen=True)
class KafkaStatus:
    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path
    version: str


def default_version() -> str:
    return os.environ.get("ERS_KAFKA_VERSION") or KAFKA_VERSION


def default_cache_root() -> Path:
    override = os.environ.get("ERS_KAFKA_CACHE")
    return Path(override).expanduser() if override else Path.home() / ".cache" / "ers" / "kafka"


def heap_flags() -> list[str]:
    return shlex.split(os.environ.get("ERS_KAFKA_HEAP") or DEFAULT_HEAP)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR as the JVM's server socket sets it: connections of a stopped broker lingering in TIME_WAIT
        # do not make the port busy, a listener does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
        return False


def new_cluster_id() -> str:
    """Same format as ``StorageTool random-uuid``, without starting a JVM.

    Kafka's Uuid.randomUuid re-draws ids whose base64 form starts with '-'
    because they read as command-line options.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise LocalKafkaError("java not found: install a JDK 17+ or set JAVA_HOME")
    return found


def server_properties(data_dir: Path, port: int, controller_port: int) -> dict[str, str]:
    # Static voters rather than controller.quorum.bootstrap.servers + --standalone:
    # the voter endpoint then comes from this file on every start, so changing
    # the controller port of an existing data dir keeps working.
    return {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir / "data"),
        "num.partitions": "1",
        # Our app creates its topics explicitly; kept on for tools like kcat.
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # After a restart the controller rejects the broker's registration
        # (DUPLICATE_BROKER_REGISTRATION) until the previous incarnation's
        # session expires: 9 s by default, which doubled the restart time.
        "broker.session.timeout.ms": "5000",
        "broker.heartbeat.interval.ms": "1000",
    }


def log4j2_properties(log_file: Path) -> dict[str, str]:
    """Broker log to a size-rolled file; only WARN and above to the console."""
    return {
        "status": "warn",
        "name": "ers-local-kafka",
        # Log4j's own shutdown hook would close the file while Kafka's hook is
        # still shutting down, losing the last lines that show a clean stop.
        "shutdownHook": "disable",
        "appender.file.type": "RollingFile",
        "appender.file.name": "file",
        "appender.file.fileName": str(log_file),
        "appender.file.filePattern": f"{log_file}.%i",
        "appender.file.layout.type": "PatternLayout",
        "appender.file.layout.pattern": "[%d] %p %m (%c)%n",
        "appender.file.policies.type": "Policies",
        "appender.file.policies.size.type": "SizeBasedTriggeringPolicy",
        "appender.file.policies.size.size": "50MB",
        "appender.file.strategy.type": "DefaultRolloverStrategy",
        "appender.file.strategy.max": "3",
        "appender.console.type": "Console",
        "appender.console.name": "console",
        "appender.console.layout.type": "PatternLayout",
        "appender.console.layout.pattern": "[%d] %p %m (%c)%n",
        "rootLogger.level": "info",
        "rootLogger.appenderRef.file.ref": "file",
        "rootLogger.appenderRef.console.ref": "console",
        "rootLogger.appenderRef.console.level": "warn",
        # One line per request otherwise.
        "logger.request.name": "kafka.request.logger",
        "logger.request.level": "warn",
    }


def write_properties(path: Path, values: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by deploy/local/kafka.py; rewritten on every start."]
    lines += [f"{key}={value}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_properties(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no {path.name})"
    return "\n".join(text.splitlines()[-lines:])


def is_broker_process(pid: int) -> bool:
    """Alive, not a zombie, and (where /proc exists) really a Kafka JVM.

    The cmdline check guards against a stale pid file whose pid was reused.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not Path("/proc/self").exists():
        return True
    try:
        # A zombie has an empty cmdline.
        return b"kafka.Kafka" in cmdline.read_bytes()
    except OSError:
        return False


class LocalKafka:
    """One single-node KRaft broker bound to 127.0.0.1, rooted in a data directory.

    ``port``/``controller_port``: ``None`` means 9092/9093, or free ports
    when ``ephemeral``; ``0`` always means a free port. Ports are chosen when
    the object is built, so ``bootstrap`` is known before ``start()``.
    ``ephemeral``: the data directory is a fresh temporary folder, removed by
    ``stop()``; ``data_dir`` must then be left out.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        version: str | None = None,
        port: int | None = None,
        controller_port: int | None = None,
        ephemeral: bool = False,
        cache_root: Path | None = None,
    ) -> None:
        if ephemeral and data_dir is not None:
            raise ValueError("ephemeral brokers choose their own data_dir")
        self.version = version or default_version()
        self.ephemeral = ephemeral
        self.data_dir = self._choose_data_dir(data_dir)
        self.port = self._choose_port(port, DEFAULT_PORT)
        self.controller_port = self._choose_port(controller_port, DEFAULT_CONTROLLER_PORT)
        self.cache_root = cache_root or default_cache_root()
        self._process: subprocess.Popen[bytes] | None = None

    # -- paths -----------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def libs_dir(self) -> Path:
        return self.cache_root / self.version / "libs"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def server_log(self) -> Path:
        return self.logs_dir / "server.log"

    @property
    def console_log(self) -> Path:
        return self.logs_dir / "kafka.out"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log4j_file(self) -> Path:
        return self.data_dir / "log4j2.properties"

    # -- public API ------------------------------------------------------

    def ensure_jars(self) -> Path:
        """Copy the broker jars into the cache once; return the libs folder."""
        marker = self.libs_dir.parent / JARS_MARKER
        if self._jars_current(marker):
            return self.libs_dir
        log.info("resolving Kafka %s jars with Maven into %s", self.version, self.libs_dir)
        staging = self._copy_dependencies()
        self._publish_jars(staging, marker)
        return self.libs_dir

    def start(self, timeout: float = 60.0) -> KafkaStatus:
        """Start the broker (or report the one already running) and wait until it answers."""
        current = self.status()
        if current.running:
            log.info("Kafka already running in %s (pid %s) at %s", self.data_dir, current.pid, current.bootstrap)
            return current
        self._clear_stale_pid_file()
        self._check_not_older_than_storage()
        self._check_ports_free()
        try:
            self.ensure_jars()
            self._prepare_data_dir()
            self._format_storage_once()
            self._launch()
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()  # kills a half-started JVM; removes an ephemeral data dir
            raise
        status = self.status()
        log.info("Kafka %s ready at %s (pid %s, data %s)", self.version, self.bootstrap, status.pid, self.data_dir)
        return status

    def stop(self) -> None:
        """SIGTERM, up to 30 s for a clean shutdown, then SIGKILL. Idempotent."""
        pid = self._read_pid() or (self._process.pid if self._process else None)
        if pid is not None and self._alive(pid):
            log.info("stopping Kafka (pid %s)", pid)
            self._terminate(pid)
        self.pid_file.unlink(missing_ok=True)
        self._process = None
        if self.ephemeral:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def status(self) -> KafkaStatus:
        pid = self._read_pid()
        running = pid is not None and self._alive(pid)
        return KafkaStatus(
            running=running,
            pid=pid if running else None,
            bootstrap=self._running_bootstrap() if running else self.bootstrap,
            data_dir=self.data_dir,
            version=self.version,
        )

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- construction helpers --------------------------------------------

    def _choose_data_dir(self, data_dir: Path | None) -> Path:
        if self.ephemeral:
            # Named now, created by start(): nothing to leak if never started.
            return Path(tempfile.gettempdir()) / f"ers-kafka-{uuid.uuid4().hex[:12]}"
        return (data_dir or Path("var") / "kafka").resolve()

    def _choose_port(self, port: int | None, default: int) -> int:
        if port == 0 or (port is None and self.ephemeral):
            return free_port()
        return default if port is None else port

    # -- jars --------------------------------------------------------------

    def _copy_dependencies(self) -> Path:
        mvn = shutil.which("mvn")
        if not mvn:
            raise LocalKafkaError("mvn not found: install Maven to fetch the Kafka jars")
        if not POM_PATH.exists():
            raise LocalKafkaError(f"missing {POM_PATH}")
        self.libs_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="libs.partial-", dir=self.libs_dir.parent))
        command = [
            mvn, "-q", "-B", "-f", str(POM_PATH), "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}", f"-Dkafka.version={self.version}",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not any(staging.glob("*.jar")):
            shutil.rmtree(staging, ignore_errors=True)
            output = (result.stdout + result.stderr)[-4000:]
            raise LocalKafkaError(f"mvn could not resolve Kafka {self.version}:\n{output}")
        return staging

    def _marker_text(self) -> str:
        # The pom's hash is part of the marker: editing the pom refreshes every cache.
        pom_hash = hashlib.sha256(POM_PATH.read_bytes()).hexdigest() if POM_PATH.exists() else "no-pom"
        return f"{self.version} {pom_hash}\n"

    def _jars_current(self, marker: Path) -> bool:
        try:
            current = marker.read_text(encoding="utf-8") == self._marker_text()
        except OSError:
            return False
        return current and any(self.libs_dir.glob("*.jar"))

    def _publish_jars(self, staging: Path, marker: Path) -> None:
        # Rename is atomic, and the marker is written last: an interrupted copy
        # leaves no valid marker, so the next call redoes it.
        if self._jars_current(marker):
            shutil.rmtree(staging, ignore_errors=True)  # another process won the race
            return
        marker.unlink(missing_ok=True)
        shutil.rmtree(self.libs_dir, ignore_errors=True)
        staging.rename(self.libs_dir)
        marker.write_text(self._marker_text(), encoding="utf-8")

    def _classpath(self) -> str:
        jars = sorted(self.libs_dir.glob("*.jar"))
        if not jars:
            raise LocalKafkaError(f"no jars in {self.libs_dir}")
        return os.pathsep.join(str(jar) for jar in jars)

    def _java_command(self, main_class: str, *args: str) -> list[str]:
        return [
            java_executable(),
            *heap_flags(),
            *JVM_FLAGS,
            f"-Dlog4j2.configurationFile={self.log4j_file}",
            f"-Dkafka.logs.dir={self.logs_dir}",
            "-cp",
            self._classpath(),
            main_class,
            *args,
        ]

    # -- data dir ----------------------------------------------------------

    def _prepare_data_dir(self) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        write_properties(self.config_file, server_properties(self.data_dir, self.port, self.controller_port))
        write_properties(self.log4j_file, log4j2_properties(self.server_log))

    def _check_not_older_than_storage(self) -> None:
        # Storage formatted by a newer Kafka uses record versions an older one
        # cannot read; the JVM would die with an UnsupportedVersionException.
        try:
            formatted = (self.data_dir / FORMATTED_WITH).read_text(encoding="utf-8").strip()
        except OSError:
            return
        if version_key(self.version) < version_key(formatted):
            raise LocalKafkaError(
                f"{self.data_dir} was formatted by Kafka {formatted}; Kafka {self.version} cannot read it. "
                f"Use {formatted} or newer, or start from an empty data dir."
            )

    def _format_storage_once(self) -> None:
        if (self.data_dir / "data" / "meta.properties").exists():
            return
        cluster_id = new_cluster_id()
        log.info("formatting Kafka storage in %s (cluster %s)", self.data_dir / "data", cluster_id)
        command = self._java_command("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config_file))
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        log.debug("StorageTool: %s", (result.stdout + result.stderr).strip())
        if result.returncode != 0:
            raise LocalKafkaError(f"formatting {self.data_dir} failed:\n{(result.stdout + result.stderr)[-4000:]}")
        (self.data_dir / FORMATTED_WITH).write_text(f"{self.version}\n", encoding="utf-8")

    # -- process -----------------------------------------------------------

    def _check_ports_free(self) -> None:
        # Otherwise the readiness probe could be answered by someone else's broker.
        busy = [port for port in (self.port, self.controller_port) if port_in_use(port)]
        if busy:
            raise LocalKafkaError(f"port(s) {busy} on {HOST} already in use; pick others or stop that process")

    def _launch(self) -> None:
        command = self._java_command("kafka.Kafka", str(self.config_file))
        with self.console_log.open("ab") as out:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.data_dir,
            )
        self.pid_file.write_text(f"{self._process.pid}\n", encoding="utf-8")
        log.info("launched Kafka %s (pid %s), waiting for %s", self.version, self._process.pid, self.bootstrap)

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            pid = self._read_pid()
            if pid is None or not self._alive(pid):
                raise LocalKafkaError(f"Kafka exited during startup.\n{self._log_tails()}")
            if self._answers_metadata():
                return
            if time.monotonic() >= deadline:
                raise LocalKafkaError(f"Kafka not ready at {self.bootstrap} after {timeout:.0f} s.\n{self._log_tails()}")
            time.sleep(0.5)

    def _answers_metadata(self) -> bool:
        # Imported here so that status()/stop() work without the client library.
        from kafka import KafkaAdminClient

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="ers-local-kafka-probe",
                bootstrap_timeout_ms=2000,
                request_timeout_ms=3000,
            )
        except Exception as error:  # noqa: BLE001 - any failure just means "not yet"
            log.debug("broker not answering yet: %s", error)
            return False
        try:
            admin.list_topics()
            return True
        except Exception as error:  # noqa: BLE001
            log.debug("metadata request failed: %s", error)
            return False
        finally:
            admin.close()

    def _terminate(self, pid: int) -> None:
        os.kill(pid, signal.SIGTERM)
        if self._wait_for_exit(pid, STOP_GRACE_SECONDS):
            return
        log.warning("Kafka (pid %s) still running after %.0f s, sending SIGKILL", pid, STOP_GRACE_SECONDS)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self._wait_for_exit(pid, 10.0)

    def _wait_for_exit(self, pid: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self._alive(pid):
                return True
            time.sleep(0.2)
        return not self._alive(pid)

    def _alive(self, pid: int) -> bool:
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None  # poll() also reaps our own child
        return is_broker_process(pid)

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None

    def _clear_stale_pid_file(self) -> None:
        if self.pid_file.exists():
            log.info("removing stale pid file %s", self.pid_file)
            self.pid_file.unlink(missing_ok=True)

    def _running_bootstrap(self) -> str:
        """The address the running broker advertises (it may differ from ours)."""
        try:
            listeners = read_properties(self.config_file).get("advertised.listeners", "")
        except OSError:
            return self.bootstrap
        address = listeners.split(",")[0].split("://")[-1]
        return address or self.bootstrap

    def _log_tails(self) -> str:
        return (
            f"--- {self.console_log} ---\n{tail(self.console_log)}\n"
            f"--- {self.server_log} ---\n{tail(self.server_log)}"
        )
