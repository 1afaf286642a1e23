"""Fixtures for tests that need a real Kafka broker.

``kafka_bootstrap`` is one broker for the whole session: the one named by
EMBERWATCH_TEST_BOOTSTRAP, or else an embedded broker (pipeline.broker.LocalBroker) in a temporary
state dir, stopped at the end.
A missing Java or Maven fails the tests with the reason; they are never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.broker import LocalBroker, create_topics
from pipeline.errors import BrokerError
from pipeline.settings import Settings

_HERE = Path(__file__).resolve().parent
BOOTSTRAP_ENV = "EMBERWATCH_TEST_BOOTSTRAP"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration as ``integration``."""
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)


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
