"""Fixtures shared by the integration and end-to-end tests.

``kafka_bootstrap`` is one real Kafka broker for the whole session: the one named by
EMBERWATCH_TEST_BOOTSTRAP, or else an embedded broker (pipeline.broker.LocalBroker) in a temporary
state dir, stopped at the end. A missing Java or Maven fails the tests with the reason; they are
never skipped. ``worker_factory`` runs `emberwatch run` as a process on fresh topic names.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.broker import LocalBroker, create_topics, pick_free_port
from pipeline.errors import BrokerError
from pipeline.settings import Settings
from pipeline.tools import metric_total, scrape_metrics

REPO = Path(__file__).resolve().parent.parent
BOOTSTRAP_ENV = "EMBERWATCH_TEST_BOOTSTRAP"


def broker_settings(state_dir: Path) -> Settings:
    """Settings for an embedded broker in ``state_dir`` (free ports, other values as configured)."""
    return Settings(bootstrap_servers=None, state_dir=state_dir, broker_port=0)


def start_or_fail(broker: LocalBroker) -> str:
    try:
        return broker.start(timeout=120.0)
    except BrokerError as exc:
        pytest.fail(
            f"the embedded Kafka broker could not start ({exc}); integration tests need Java 17 "
            f"and Maven, or {BOOTSTRAP_ENV}=host:port of a running broker",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def local_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker | None]:
    """The session's embedded broker, running; None when EMBERWATCH_TEST_BOOTSTRAP is used."""
    if os.environ.get(BOOTSTRAP_ENV):
        yield None
        return
    broker = LocalBroker.from_settings(broker_settings(tmp_path_factory.mktemp("kafka-state")))
    start_or_fail(broker)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def broker_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], LocalBroker]]:
    """``make() -> LocalBroker``: a separate, not yet started broker in its own state dir.

    Whatever is still running at the end of the test is stopped.
    """
    made: list[LocalBroker] = []

    def make() -> LocalBroker:
        broker = LocalBroker.from_settings(broker_settings(tmp_path_factory.mktemp("own-broker")))
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(local_broker: LocalBroker | None) -> str:
    external = os.environ.get(BOOTSTRAP_ENV)
    if external:
        return external
    assert local_broker is not None
    status = local_broker.status()
    assert status.bootstrap is not None, status
    return status.bootstrap


@pytest.fixture
def topic_factory(kafka_bootstrap: str) -> Callable[..., str]:
    """``make(prefix, partitions=4) -> name``: a new topic with a unique name, ready to use."""

    def make(prefix: str, partitions: int = 4) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        create_topics(kafka_bootstrap, [name], partitions=partitions)
        return name

    return make


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    metrics_url: str
    log: Path

    def scrape(self) -> dict[str, float]:
        return scrape_metrics(self.metrics_url)

    def total(self, name: str) -> float:
        return metric_total(self.scrape(), name)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"worker exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                if predicate():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        pytest.fail(f"timed out waiting for {what}:\n{self.log_tail()}")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, as an orchestrator would, and wait for a clean exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def topic_env(prefix: str) -> dict[str, str]:
    """Fresh topic names and app id for one test."""
    return {
        "EMBERWATCH_APP_ID": f"{prefix}-app",
        "EMBERWATCH_TOPIC_RAW": f"{prefix}.raw",
        "EMBERWATCH_TOPIC_DEAD_LETTER": f"{prefix}.dlq",
        "EMBERWATCH_TOPIC_CLASSIFIED": f"{prefix}.classified",
        "EMBERWATCH_TOPIC_ALERTS": f"{prefix}.alerts",
    }


@pytest.fixture
def fresh_env(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """``make(bootstrap, **extra) -> env``: an environment for emberwatch commands of one test."""

    def make(bootstrap: str, **extra: str) -> dict[str, str]:
        prefix = f"t{uuid.uuid4().hex[:10]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMBERWATCH_")}
        env.update(topic_env(prefix))
        env["EMBERWATCH_BOOTSTRAP_SERVERS"] = bootstrap
        env["EMBERWATCH_STATE_DIR"] = str(tmp_path / f"state-{prefix}")
        env["EMBERWATCH_WEB_PORT"] = str(pick_free_port())
        env.update(extra)
        return env

    return make


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Worker]]:
    """``start(env) -> Worker``: `emberwatch run` as a process, ready to take input."""
    started: list[Worker] = []

    def start(env: dict[str, str]) -> Worker:
        log = tmp_path / f"worker-{len(started)}.log"
        handle = log.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "run"],
            env=env,
            cwd=REPO,
            stdout=handle,
            stderr=handle,
            start_new_session=True,
        )
        worker = Worker(process, env, f"http://127.0.0.1:{env['EMBERWATCH_WEB_PORT']}/metrics", log)
        started.append(worker)
        worker.wait_for(lambda: worker.scrape() is not None, 120, "the worker's /metrics")
        ready_url = worker.metrics_url.replace("/metrics", "/ready")

        def is_ready() -> bool:
            try:
                with urllib.request.urlopen(ready_url, timeout=5) as response:  # noqa: S310
                    return response.status == 200
            except OSError:
                return False

        worker.wait_for(is_ready, 120, "the worker to be ready")
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def settings_for() -> Callable[[dict[str, str]], Settings]:
    """``settings_for(env)``: the Settings a process started with ``env`` would build."""
    return _settings_for


def _settings_for(env: dict[str, str]) -> Settings:
    return Settings(
        **{
            k.removeprefix("EMBERWATCH_").lower(): v
            for k, v in env.items()
            if k.startswith("EMBERWATCH_")
        }
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(*args, env=None, timeout=300)``: run `emberwatch ARGS` as a process in the repo."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pipeline.cli", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
