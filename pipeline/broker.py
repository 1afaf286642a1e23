"""The embedded single-node Apache Kafka broker (3.9.x, KRaft, combined broker + controller).

When ``Settings.bootstrap_servers`` is unset the project runs its own broker: the jars are
resolved from Maven Central with ``deploy/kafka/pom.xml`` (:func:`ensure_jars`), the storage is
formatted once and ``kafka.Kafka`` runs detached in its own session, bound to 127.0.0.1 only.
Everything it owns lives in ``<state_dir>/broker``::

    broker/
      server.properties   rendered on every start (ports may change)
      cluster.id          the KRaft cluster id, chosen on first start
      broker.pid          pid of the running JVM (absent when stopped)
      broker.owner        pid of the process that started it and will stop it (absent when the
                          broker was started detached: ``emberwatch broker start``, demo
                          ``--keep-running``)
      broker.port         JSON {"port": ..., "controller_port": ...} of the last start
      data/               log.dirs (topic data and KRaft metadata)
      logs/               server.log (log4j) and stdout.log (JVM output)

A later :meth:`LocalBroker.start` from any process reuses a running broker of the same state dir.
A broker whose owner died without stopping it (SIGKILL, a CI timeout) is an orphan:
:func:`sweep_orphans`, run at every start, stops it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pipeline.errors import BrokerError, ConfigError
from pipeline.settings import Settings

__all__ = [
    "BrokerStatus",
    "Listener",
    "LocalBroker",
    "create_topics",
    "embedded_broker",
    "ensure_jars",
    "pick_free_port",
    "render_server_properties",
]

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
NODE_ID = 1
_MARKER = ".emberwatch-pom.sha256"
_MAIN_CLASS = "kafka.Kafka"
_PROPERTIES = "server.properties"
PID_FILE = "broker.pid"
OWNER_FILE = "broker.owner"
_STORAGE_TOOL = "kafka.tools.StorageTool"
_DEBIAN_PACKAGES = {"java": "openjdk-17-jre-headless", "mvn": "maven"}
_MVN_TIMEOUT_S = 900.0
_FORMAT_TIMEOUT_S = 120.0
_LOG_TAIL_LINES = 40
_BIND_ATTEMPTS = 2
_LOG_ERROR = re.compile(r"\] (ERROR|FATAL) |^Caused by:|^[\w.$]+(Exception|Error)\b")
_BIND_CLASH = "Address already in use"

# Used when no log4j.properties sits next to the pom (a custom ``kafka_pom``).
_FALLBACK_LOG4J = """\
log4j.rootLogger=INFO, serverFile
log4j.appender.serverFile=org.apache.log4j.FileAppender
log4j.appender.serverFile.File=${emberwatch.broker.log.dir}/server.log
log4j.appender.serverFile.layout=org.apache.log4j.PatternLayout
log4j.appender.serverFile.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.common.config.AbstractConfig=WARN
"""


# ------------------------------------------------------------------------------------------------
# jars
# ------------------------------------------------------------------------------------------------


def _require_tools(*names: str) -> dict[str, str]:
    """Resolve programs on PATH; a missing one is a BrokerError naming its Debian package."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in names:
        path = shutil.which(name)
        if path is None:
            missing.append(name)
        else:
            found[name] = path
    if missing:
        packages = " ".join(_DEBIAN_PACKAGES.get(name, name) for name in missing)
        msg = (
            f"{' and '.join(repr(n) for n in missing)} not found on PATH; "
            "the embedded Kafka broker needs a Java 17 runtime and Maven "
            f"(Debian: apt-get install {packages}), "
            "or set EMBERWATCH_BOOTSTRAP_SERVERS to use an existing Kafka cluster"
        )
        raise BrokerError(msg)
    return found


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jars_current(libs_dir: Path, digest: str) -> bool:
    marker = libs_dir / _MARKER
    try:
        recorded = marker.read_text(encoding="ascii").strip()
    except OSError:
        return False
    return recorded == digest and any(libs_dir.glob("*.jar"))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock between processes (released when the file is closed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def ensure_jars(libs_dir: Path, pom: Path) -> Path:
    """Make ``libs_dir`` hold the broker classpath resolved from ``pom``; return ``libs_dir``.

    The folder records the pom's SHA-256, so a changed pom re-fetches. Maven writes into a temporary
    sibling folder that is renamed into place only when complete.
    """
    if not pom.is_file():
        msg = f"Kafka pom not found: {pom}"
        raise BrokerError(msg)
    digest = _file_sha256(pom)
    if _jars_current(libs_dir, digest):
        return libs_dir
    tools = _require_tools("java", "mvn")
    libs_dir.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(libs_dir.parent / f".{libs_dir.name}.lock"):
        if _jars_current(libs_dir, digest):  # another process fetched while we waited
            return libs_dir
        tmp = Path(tempfile.mkdtemp(prefix=f".{libs_dir.name}.tmp-", dir=libs_dir.parent))
        try:
            argv = [
                tools["mvn"], "-q", "-B", "-f", str(pom.resolve()),
                "dependency:copy-dependencies", "-DincludeScope=runtime",
                f"-DoutputDirectory={tmp}",
            ]  # fmt: skip
            logger.info("fetching Kafka jars with Maven into %s", libs_dir)
            started = time.monotonic()
            try:
                result = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=_MVN_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                msg = f"mvn did not finish within {_MVN_TIMEOUT_S:.0f}s fetching the Kafka jars"
                raise BrokerError(msg) from exc
            if result.returncode != 0 or not any(tmp.glob("*.jar")):
                output = _tail((result.stdout or "") + (result.stderr or ""))
                msg = f"mvn failed (exit {result.returncode}) resolving {pom}:\n{output}"
                raise BrokerError(msg)
            (tmp / _MARKER).write_text(digest + "\n", encoding="ascii")
            old: Path | None = None
            if libs_dir.exists():
                old = libs_dir.with_name(f".{libs_dir.name}.old-{uuid.uuid4().hex[:8]}")
                libs_dir.rename(old)
            tmp.rename(libs_dir)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            logger.info(
                "fetched %d Kafka jars in %.1fs",
                len(list(libs_dir.glob("*.jar"))),
                time.monotonic() - started,
            )
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return libs_dir


# ------------------------------------------------------------------------------------------------
# pure helpers
# ------------------------------------------------------------------------------------------------


def pick_free_port(host: str = HOST, exclude: frozenset[int] = frozenset()) -> int:
    """A TCP port that is free on ``host`` right now (the OS chooses; ``exclude`` is skipped)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port
    msg = f"could not find a free TCP port on {host}"
    raise BrokerError(msg)


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_accepts(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _escape_property(value: str) -> str:
    r"""Escape a value for java.util.Properties (read as ISO-8859-1: ``\``, and non-ASCII)."""
    out: list[str] = []
    for char in value.replace("\\", "\\\\"):
        if ord(char) > 0x7E:
            # Characters outside the BMP become a surrogate pair of \uXXXX escapes.
            encoded = char.encode("utf-16-be")
            out.extend(
                f"\\u{int.from_bytes(encoded[i : i + 2], 'big'):04x}"
                for i in range(0, len(encoded), 2)
            )
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class Listener:
    """An extra client listener of the broker, e.g. ``Listener("SASL", "SASL_PLAINTEXT", 9093)``.

    Its settings (JAAS config, keystores) go in ``extra_properties`` under ``listener.name.<name
    lowercased>.``. The PLAINTEXT listener stays: the broker talks to itself and is checked for
    readiness on it, and the controller listener stays plaintext.
    """

    name: str
    protocol: str
    port: int


_RESERVED_LISTENERS = frozenset({"PLAINTEXT", "CONTROLLER"})


def render_server_properties(
    *,
    port: int,
    controller_port: int,
    data_dir: Path,
    node_id: int = NODE_ID,
    num_partitions: int = 4,
    extra_listeners: Sequence[Listener] = (),
    extra_properties: Mapping[str, str] | None = None,
) -> str:
    """The ``server.properties`` of a single-node KRaft broker bound to 127.0.0.1 only.

    ``extra_listeners`` are added next to PLAINTEXT; ``extra_properties`` add keys (they may not
    replace one rendered here).
    """
    listeners = [f"PLAINTEXT://{HOST}:{port}"]
    protocol_map = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
    for listener in extra_listeners:
        if listener.name in _RESERVED_LISTENERS or not re.fullmatch(r"[A-Z_]+", listener.name):
            msg = f"listener name {listener.name!r}: A-Z and _, not PLAINTEXT or CONTROLLER"
            raise ValueError(msg)
        listeners.append(f"{listener.name}://{HOST}:{listener.port}")
        protocol_map.append(f"{listener.name}:{listener.protocol}")
    props: dict[str, str | int] = {
        "process.roles": "broker,controller",
        "node.id": node_id,
        "controller.quorum.voters": f"{node_id}@{HOST}:{controller_port}",
        "listeners": ",".join([*listeners, f"CONTROLLER://{HOST}:{controller_port}"]),
        "advertised.listeners": ",".join(listeners),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": ",".join(protocol_map),
        "log.dirs": str(data_dir),
        # topics
        "auto.create.topics.enable": "true",
        "num.partitions": num_partitions,
        "default.replication.factor": 1,
        "min.insync.replicas": 1,
        # one node: internal topics cannot be replicated; fewer partitions start faster
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": 10,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "transaction.state.log.num.partitions": 10,
        "group.initial.rebalance.delay.ms": 0,
        # a development broker on a small machine
        "num.network.threads": 2,
        "num.io.threads": 4,
        "num.recovery.threads.per.data.dir": 1,
        "log.retention.hours": 24,
        "log.segment.bytes": 64 * 1024 * 1024,
        "log.retention.check.interval.ms": 60_000,
        "log.cleaner.dedupe.buffer.size": 32 * 1024 * 1024,  # default 128 MB comes off the heap
        "delete.topic.enable": "true",
    }
    for key, value in (extra_properties or {}).items():
        if key in props:
            msg = f"extra broker property {key!r} would replace a rendered one"
            raise ValueError(msg)
        props[key] = value
    lines = ["# Rendered by pipeline/broker.py on every start; edits are overwritten."]
    lines.extend(f"{key}={_escape_property(str(value))}" for key, value in props.items())
    return "\n".join(lines) + "\n"


def new_cluster_id() -> str:
    """A KRaft cluster id as ``kafka-storage random-uuid`` makes it (URL-safe base64, 22 chars)."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not candidate.startswith("-"):  # Kafka avoids ids that read as a CLI option
            return candidate


def _pid_alive(pid: int) -> bool:
    """True for a live (non-zombie) process; reaps it when it is our own exited child."""
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    # the state letter follows the ")" closing the command name
    return stat.rsplit(")", 1)[-1].split()[0] not in {"Z", "X"}


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", errors="replace") for part in raw.split(b"\0") if part]


def _send(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Until ``timeout``: the process is gone (``proc``, our own child, is reaped meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.pid == pid:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.1)
        if not _pid_alive(pid):
            return True
        time.sleep(0.1)
    return not _pid_alive(pid)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def _broker_jvms() -> Iterator[tuple[int, Path]]:
    """(pid, broker dir) of every running JVM started by :class:`LocalBroker` (any state dir)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        argv = _cmdline(int(entry.name))
        if _MAIN_CLASS not in argv or argv[-1:] == [_MAIN_CLASS]:
            continue
        props = Path(argv[argv.index(_MAIN_CLASS) + 1])
        try:
            cwd = str((entry / "cwd").readlink())
        except OSError:
            continue
        # LocalBroker runs the JVM in its broker dir with <broker dir>/server.properties
        if props.name == _PROPERTIES and cwd.removesuffix(" (deleted)") == str(props.parent):
            yield int(entry.name), props.parent


def sweep_orphans(timeout: float = 30.0) -> list[int]:
    """Stop the embedded brokers whose owner process died without stopping them; return their
    pids. A broker is an orphan when its ``broker.owner`` names a dead process, or when its
    state dir is gone (a deleted temporary dir). Detached brokers (no owner file) are left alone.
    """
    stopped = []
    for pid, broker_dir in _broker_jvms():
        if broker_dir.is_dir():
            owner = _read_int(broker_dir / OWNER_FILE)
            if owner is None or _pid_alive(owner) or _read_int(broker_dir / PID_FILE) != pid:
                continue
            why = f"its owner pid {owner} is gone"
        else:
            why = f"its state dir {broker_dir} is gone"
        logger.warning("stopping orphaned Kafka broker pid %d: %s", pid, why)
        _send(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            _send(pid, signal.SIGKILL)
            _wait_gone(pid, 10.0)
        for name in (PID_FILE, OWNER_FILE):
            with contextlib.suppress(OSError):
                (broker_dir / name).unlink()
        stopped.append(pid)
    return stopped


# ------------------------------------------------------------------------------------------------
# the broker
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str | None
    data_dir: Path


class LocalBroker:
    """One single-node Kafka broker whose files live in ``broker_dir``.

    Build it with :meth:`from_settings`. ``port`` 0 picks free ports for the broker and controller
    listeners (the previous ones are reused when still free, so the bootstrap stays stable).
    """

    def __init__(
        self,
        broker_dir: Path,
        *,
        libs_dir: Path,
        pom: Path,
        port: int = 0,
        heap_mb: int = 512,
        num_partitions: int = 4,
        extra_listeners: Sequence[Listener] = (),
        extra_properties: Mapping[str, str] | None = None,
        format_args: Sequence[str] = (),
    ) -> None:
        """``extra_listeners``/``extra_properties`` go to :func:`render_server_properties`;
        ``format_args`` to the first storage format (e.g. ``--add-scram`` credentials)."""
        self.broker_dir = broker_dir.resolve()
        self.libs_dir = libs_dir.expanduser().resolve()
        self.pom = pom.resolve()
        self.port = port
        self.heap_mb = heap_mb
        self.num_partitions = num_partitions
        self.extra_listeners = tuple(extra_listeners)
        self.extra_properties = dict(extra_properties or {})
        self.format_args = tuple(format_args)
        self.started_here = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offsets: dict[Path, int] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBroker:
        return cls(
            settings.state_dir / "broker",
            libs_dir=settings.kafka_libs_dir,
            pom=settings.kafka_pom,
            port=settings.broker_port,
            heap_mb=settings.broker_heap_mb,
            num_partitions=settings.topic_partitions,
        )

    # --- files ----------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.broker_dir / "data"

    @property
    def logs_dir(self) -> Path:
        return self.broker_dir / "logs"

    @property
    def pid_file(self) -> Path:
        return self.broker_dir / PID_FILE

    @property
    def owner_file(self) -> Path:
        return self.broker_dir / OWNER_FILE

    @property
    def port_file(self) -> Path:
        return self.broker_dir / "broker.port"

    @property
    def properties_file(self) -> Path:
        return self.broker_dir / _PROPERTIES

    @property
    def cluster_id_file(self) -> Path:
        return self.broker_dir / "cluster.id"

    @property
    def server_log(self) -> Path:
        return self.logs_dir / "server.log"

    @property
    def stdout_log(self) -> Path:
        return self.logs_dir / "stdout.log"

    def _log4j_config(self) -> Path:
        shipped = self.pom.parent / "log4j.properties"
        if shipped.is_file():
            return shipped
        fallback = self.broker_dir / "log4j.properties"
        fallback.write_text(_FALLBACK_LOG4J, encoding="utf-8")
        return fallback

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None

    def _read_ports(self) -> tuple[int, int] | None:
        try:
            data = json.loads(self.port_file.read_text(encoding="utf-8"))
            return int(data["port"]), int(data["controller_port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _is_ours(self, pid: int) -> bool:
        """The pid is a live JVM running ``kafka.Kafka`` with this broker's properties file."""
        if not _pid_alive(pid):
            return False
        argv = _cmdline(pid)
        # exact arguments, so that state dirs like ".../a" and ".../a2" cannot be confused
        return _MAIN_CLASS in argv and str(self.properties_file) in argv

    def _running_pid(self) -> int | None:
        pid = self._read_pid()
        if pid is not None and self._is_ours(pid):
            return pid
        return None

    # --- public ---------------------------------------------------------------------------------
    def status(self) -> BrokerStatus:
        pid = self._running_pid()
        ports = self._read_ports() if pid is not None else None
        return BrokerStatus(
            running=pid is not None,
            pid=pid,
            bootstrap=f"{HOST}:{ports[0]}" if ports else None,
            data_dir=self.data_dir,
        )

    def start(self, timeout: float = 90.0, *, detached: bool = False) -> str:
        """Start the broker (or reuse the one already running here); return its bootstrap.

        A broker started here is owned by this process, which must :meth:`stop` it; should the
        process die first, the broker is an orphan for :func:`sweep_orphans`. ``detached``: the
        broker is meant to outlive this process (no owner).
        """
        deadline = time.monotonic() + timeout
        try:
            sweep_orphans()
        except OSError as exc:  # best effort: /proc unreadable, a race with another sweep
            logger.debug("orphan sweep failed: %r", exc)
        self.broker_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.broker_dir / "start.lock"):
            pid = self._running_pid()
            if pid is not None:
                ports = self._read_ports()
                if ports is None:
                    msg = f"broker pid {pid} runs but {self.port_file} is unreadable; stop it first"
                    raise BrokerError(msg)
                bootstrap = f"{HOST}:{ports[0]}"
                logger.info("reusing running Kafka broker pid %d at %s", pid, bootstrap)
                self._wait_ready(pid, ports[0], deadline)
                return bootstrap
            self.pid_file.unlink(missing_ok=True)  # stale
            ensure_jars(self.libs_dir, self.pom)
            java = _require_tools("java")["java"]
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            for attempt in range(1, _BIND_ATTEMPTS + 1):
                try:
                    bootstrap = self._start_new(java, deadline)
                except BrokerError as exc:
                    # A free port picked by us can be taken by someone else before the JVM binds.
                    if self.port or attempt == _BIND_ATTEMPTS or _BIND_CLASH not in str(exc):
                        raise
                    logger.warning("Kafka broker port taken during start; retrying on new ports")
                    self.port_file.unlink(missing_ok=True)
                    continue
                if detached:
                    self.owner_file.unlink(missing_ok=True)
                else:
                    self.owner_file.write_text(f"{os.getpid()}\n", encoding="ascii")
                return bootstrap
            msg = "unreachable"  # the loop returns or raises
            raise AssertionError(msg)

    def _start_new(self, java: str, deadline: float) -> str:
        port, controller_port = self._choose_ports()
        self.properties_file.write_text(
            render_server_properties(
                port=port,
                controller_port=controller_port,
                data_dir=self.data_dir,
                num_partitions=self.num_partitions,
                extra_listeners=self.extra_listeners,
                extra_properties=self.extra_properties,
            ),
            encoding="latin-1",
        )
        self.port_file.write_text(
            json.dumps({"port": port, "controller_port": controller_port}) + "\n",
            encoding="utf-8",
        )
        self._format_storage(java)
        pid = self._launch(java)
        started = time.monotonic()
        try:
            self._wait_ready(pid, port, deadline)
        except BrokerError:
            self._kill_quietly(pid)
            raise
        self.started_here = True
        bootstrap = f"{HOST}:{port}"
        logger.info(
            "Kafka broker pid %d ready at %s in %.1fs", pid, bootstrap, time.monotonic() - started
        )
        return bootstrap

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker of this state dir by its recorded pid (SIGTERM, then SIGKILL)."""
        pid = self._read_pid()
        if pid is None:
            return
        if not self._is_ours(pid):
            logger.info("no Kafka broker running for %s (stale pid %d)", self.broker_dir, pid)
            self.pid_file.unlink(missing_ok=True)
            return
        logger.info("stopping Kafka broker pid %d", pid)
        _send(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout, self._proc):
            logger.warning(
                "Kafka broker pid %d ignored SIGTERM for %.0fs; killing it", pid, timeout
            )
            _send(pid, signal.SIGKILL)
            if not _wait_gone(pid, 10.0, self._proc):
                msg = f"Kafka broker pid {pid} survived SIGKILL"
                raise BrokerError(msg)
        self.pid_file.unlink(missing_ok=True)
        self.owner_file.unlink(missing_ok=True)
        self._proc = None
        self.started_here = False

    # --- internals ------------------------------------------------------------------------------
    def _choose_ports(self) -> tuple[int, int]:
        previous = self._read_ports()
        if self.port:
            if not port_is_free(self.port):
                msg = f"broker port {HOST}:{self.port} is already in use"
                raise BrokerError(msg)
            port = self.port
        elif previous and port_is_free(previous[0]):
            port = previous[0]
        else:
            port = pick_free_port()
        if previous and previous[1] != port and port_is_free(previous[1]):
            return port, previous[1]
        return port, pick_free_port(exclude=frozenset({port}))

    def _java_argv(self, java: str, main: str, *args: str) -> list[str]:
        return [
            java,
            f"-Dlog4j.configuration={self._log4j_config().as_uri()}",
            f"-Demberwatch.broker.log.dir={self.logs_dir}",
            "-Djava.awt.headless=true",
            "-cp",
            str(self.libs_dir / "*"),  # the JVM expands the wildcard itself
            main,
            *args,
        ]

    def _format_storage(self, java: str) -> None:
        if (self.data_dir / "meta.properties").is_file():
            return
        if self.cluster_id_file.is_file():
            cluster_id = self.cluster_id_file.read_text(encoding="ascii").strip()
        else:
            cluster_id = new_cluster_id()
            self.cluster_id_file.write_text(cluster_id + "\n", encoding="ascii")
        argv = self._java_argv(
            java, _STORAGE_TOOL, "format", "-t", cluster_id,
            "-c", str(self.properties_file), "--ignore-formatted", *self.format_args,
        )  # fmt: skip
        logger.info("formatting Kafka storage in %s (cluster id %s)", self.data_dir, cluster_id)
        try:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=_FORMAT_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            msg = f"kafka StorageTool format did not finish within {_FORMAT_TIMEOUT_S:.0f}s"
            raise BrokerError(msg) from exc
        if result.returncode != 0:
            msg = (
                f"kafka StorageTool format failed (exit {result.returncode}):\n"
                f"{_tail(result.stdout + result.stderr)}"
            )
            raise BrokerError(msg)

    def _launch(self, java: str) -> int:
        # logs are appended across starts: error reports read only what this start wrote
        self._log_offsets = {
            path: path.stat().st_size if path.exists() else 0
            for path in (self.stdout_log, self.server_log)
        }
        argv = self._java_argv(java, _MAIN_CLASS, str(self.properties_file))
        argv[1:1] = [
            f"-Xmx{self.heap_mb}m",
            f"-Xms{min(self.heap_mb, 256)}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
        ]
        with self.stdout_log.open("ab") as out:
            out.write(f"\n--- starting {_MAIN_CLASS} at {time.ctime()} ---\n".encode())
            out.flush()
            # Own session: a Ctrl-C in the parent's terminal does not reach the JVM; stop() does.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.broker_dir,
                start_new_session=True,
                close_fds=True,
            )
        self._proc = proc
        self.pid_file.write_text(f"{proc.pid}\n", encoding="ascii")
        logger.info("started Kafka broker pid %d (logs in %s)", proc.pid, self.logs_dir)
        return proc.pid

    def _log_tail(self) -> str:
        """This start's errors (the cause often precedes pages of shutdown lines), then the tail."""
        parts: list[str] = []
        for path in (self.stdout_log, self.server_log):
            try:
                with path.open("rb") as handle:
                    handle.seek(self._log_offsets.get(path, 0))
                    text = handle.read().decode("utf-8", errors="replace")
            except OSError:
                continue
            if not text.strip():
                continue
            errors = [line for line in text.splitlines() if _LOG_ERROR.search(line)]
            if errors:
                parts.append(f"--- errors in {path} ---\n" + "\n".join(errors[-10:]))
            parts.append(f"--- {path} (tail) ---\n{_tail(text)}")
        return "\n".join(parts) or "(no broker output)"

    def _wait_ready(self, pid: int, port: int, deadline: float) -> None:
        """Until ``deadline``: the port accepts connections and metadata lists this broker."""
        bootstrap = f"{HOST}:{port}"
        last_error = "port not open yet"
        while True:
            if not _pid_alive(pid):
                msg = f"Kafka broker pid {pid} exited during start:\n{self._log_tail()}"
                raise BrokerError(msg)
            if port_accepts(port):
                remaining = deadline - time.monotonic()
                try:
                    if _metadata_ready(bootstrap, timeout=max(1.0, min(3.0, remaining))):
                        return
                    last_error = "metadata lists no broker yet"
                except (KafkaError, OSError) as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                msg = (
                    f"Kafka broker pid {pid} at {bootstrap} not ready in time ({last_error}):\n"
                    f"{self._log_tail()}"
                )
                raise BrokerError(msg)
            time.sleep(0.2)

    def _kill_quietly(self, pid: int) -> None:
        if self._is_ours(pid):
            _send(pid, signal.SIGKILL)
            _wait_gone(pid, 10.0, self._proc)
        self.pid_file.unlink(missing_ok=True)


def _admin(bootstrap: str, timeout: float, client_config: Mapping[str, Any] | None) -> Any:
    ms = int(timeout * 1000)
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="emberwatch-admin",
        request_timeout_ms=ms,
        bootstrap_timeout_ms=ms,
        **dict(client_config or {}),
    )


def _security_hint(client_config: Mapping[str, Any] | None) -> str:
    """What to check when a secured connection fails.

    kafka-python 3.0.12 drops the broker's SaslAuthenticate error (sent just before the broker
    closes the connection) and reports a lost connection, so a refused login is named here.
    """
    config = client_config or {}
    hints = []
    if config.get("sasl_mechanism"):
        hints.append(
            f"if the broker refused SASL {config['sasl_mechanism']} authentication for "
            f"{config.get('sasl_plain_username')!r} (its log says 'Failed authentication'), check "
            "EMBERWATCH_SASL_USERNAME, EMBERWATCH_SASL_PASSWORD and EMBERWATCH_SASL_MECHANISM"
        )
    if config.get("ssl_context") is not None:
        hints.append(
            "for TLS errors see the log above; check EMBERWATCH_SSL_CAFILE and the client "
            "certificate (EMBERWATCH_SSL_CERTFILE/KEYFILE)"
        )
    if config.get("security_protocol") and not hints:
        hints.append(f"security protocol {config['security_protocol']}")
    return f" ({'; '.join(hints)})" if hints else ""


def _metadata_ready(bootstrap: str, timeout: float) -> bool:
    admin = _admin(bootstrap, timeout, None)
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    return bool(cluster.get("brokers"))


def require_plaintext_client(settings: Settings) -> None:
    """``ConfigError`` when clients are set up for TLS/SASL but would use the embedded broker."""
    if settings.security_protocol != "PLAINTEXT":
        msg = (
            f"EMBERWATCH_SECURITY_PROTOCOL={settings.security_protocol} needs "
            "EMBERWATCH_BOOTSTRAP_SERVERS: the embedded broker listens in PLAINTEXT only"
        )
        raise ConfigError(msg)


@contextlib.contextmanager
def embedded_broker(settings: Settings, timeout: float = 90.0) -> Iterator[str]:
    """Yield a bootstrap: the configured one, or that of the embedded broker.

    The embedded broker is started when needed and stopped on exit only if this call started it;
    with ``bootstrap_servers`` configured nothing local is touched.
    """
    if settings.bootstrap_servers:
        yield settings.bootstrap_servers
        return
    require_plaintext_client(settings)
    broker = LocalBroker.from_settings(settings)
    bootstrap = broker.start(timeout)
    try:
        yield bootstrap
    finally:
        if broker.started_here:
            broker.stop()


def create_topics(
    bootstrap: str,
    names: list[str],
    partitions: int,
    replication: int = 1,
    configs: dict[str, str] | None = None,
    *,
    timeout: float = 30.0,
    client_config: Mapping[str, Any] | None = None,
) -> None:
    """Create the topics that do not exist yet and wait until metadata shows all of them led.

    An existing topic is left as it is (its partition count is not changed).
    ``client_config`` passes extra kafka-python settings (security) to the admin client.
    """
    if not names:
        return
    spec = {
        name: {
            "num_partitions": partitions,
            "replication_factor": replication,
            "configs": dict(configs or {}),
        }
        for name in names
    }
    try:
        admin = _admin(bootstrap, timeout, client_config)
    except KafkaError as exc:
        msg = f"cannot reach Kafka at {bootstrap}: {exc}{_security_hint(client_config)}"
        raise BrokerError(msg) from exc
    try:
        result = admin.create_topics(spec, timeout_ms=int(timeout * 1000), raise_errors=False)
        failures: list[str] = []
        for topic in result.get("topics", []):
            code = topic.get("error_code", 0)
            if code in (0, TopicAlreadyExistsError.errno):
                continue
            failures.append(f"{topic.get('name')}: {topic.get('error_message') or code}")
        if failures:
            msg = f"creating topics on {bootstrap} failed: {'; '.join(failures)}"
            raise BrokerError(msg)
        admin.wait_for_topics(names, timeout_ms=int(timeout * 1000))
    except KafkaError as exc:
        msg = f"creating topics {names} on {bootstrap} failed: {exc}{_security_hint(client_config)}"
        raise BrokerError(msg) from exc
    finally:
        admin.close()
    logger.info("topics ready: %s", ", ".join(names))
