"""The embedded Kafka broker, against the real thing."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer

from pipeline import broker as broker_mod
from pipeline.broker import LocalBroker, create_topics, embedded_broker, port_accepts
from pipeline.errors import BrokerError
from pipeline.settings import Settings


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in {"Z", "X"}


def _consume(
    bootstrap: str, topic: str, expected: int, timeout: float = 30.0
) -> list[tuple[int, int, bytes, bytes]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    got: list[tuple[int, int, bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend((r.partition, r.offset, r.key, r.value) for r in records)
    finally:
        consumer.close()
    return got


def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()


def test_produce_and_consume_100_messages(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("roundtrip", 4)
    sent = [(f"brand-{i % 7}".encode(), f"mention {i}".encode()) for i in range(100)]

    _produce(kafka_bootstrap, topic, sent)
    got = _consume(kafka_bootstrap, topic, expected=100)

    assert len(got) == 100
    assert sorted(value for *_, value in got) == sorted(value for _, value in sent)
    # one key, one partition, in send order
    by_key: dict[bytes, set[int]] = {}
    for partition, _, key, _ in got:
        by_key.setdefault(key, set()).add(partition)
    assert all(len(partitions) == 1 for partitions in by_key.values())
    for key in by_key:
        in_order = [v for _, _, k, v in sorted(got) if k == key]
        assert in_order == [v for k, v in sent if k == key]
    assert len({partition for partition, *_ in got}) > 1  # the 4 partitions are really used


def test_create_topics_is_idempotent(kafka_bootstrap: str) -> None:
    names = [f"idem-{uuid.uuid4().hex[:8]}", f"idem-{uuid.uuid4().hex[:8]}"]
    create_topics(kafka_bootstrap, names, partitions=2, configs={"cleanup.policy": "compact"})
    create_topics(kafka_bootstrap, names, partitions=2)  # already there: no error
    _produce(kafka_bootstrap, names[1], [(b"k", b"v")])
    assert _consume(kafka_bootstrap, names[1], expected=1)[0][2:] == (b"k", b"v")


def test_status_reports_running_with_pid(local_broker: LocalBroker | None) -> None:
    if local_broker is None:
        pytest.skip("EMBERWATCH_TEST_BOOTSTRAP names an external broker; no LocalBroker to inspect")
    status = local_broker.status()
    assert status.running
    assert status.pid is not None and _alive(status.pid)
    assert status.bootstrap is not None and status.bootstrap.startswith("127.0.0.1:")
    assert status.data_dir == local_broker.data_dir
    assert (status.data_dir / "meta.properties").is_file()


def test_second_start_reuses_the_running_broker(local_broker: LocalBroker | None) -> None:
    if local_broker is None:
        pytest.skip("EMBERWATCH_TEST_BOOTSTRAP names an external broker; no LocalBroker to inspect")
    before = local_broker.status()
    # a fresh object for the same state dir, as another process would build it
    again = LocalBroker(
        local_broker.broker_dir, libs_dir=local_broker.libs_dir, pom=local_broker.pom
    )
    started = time.monotonic()
    assert again.start(timeout=30) == before.bootstrap
    assert time.monotonic() - started < 10  # no new JVM
    assert not again.started_here
    assert again.status().pid == before.pid
    assert local_broker.start(timeout=30) == before.bootstrap
    assert local_broker.status().pid == before.pid


@pytest.mark.slow
def test_stop_really_stops_and_restart_keeps_data(
    broker_factory: Callable[[], LocalBroker],
) -> None:
    broker = broker_factory()
    bootstrap = broker.start()
    pid = broker.status().pid
    assert pid is not None
    port = int(bootstrap.rsplit(":", 1)[1])
    topic = f"survives-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, [topic], partitions=1)
    _produce(bootstrap, topic, [(b"k", b"kept")])

    broker.stop()

    assert not _alive(pid)
    assert not port_accepts(port)
    assert not broker.pid_file.exists()
    assert broker.status() == type(broker.status())(
        running=False, pid=None, bootstrap=None, data_dir=broker.data_dir
    )
    broker.stop()  # stopping a stopped broker is a no-op

    # same state dir again: same cluster, same data, through the context manager this time
    settings = Settings(bootstrap_servers=None, state_dir=broker.broker_dir.parent)
    with embedded_broker(settings) as again:
        new_pid = broker.status().pid
        assert new_pid is not None and new_pid != pid
        got = _consume(again, topic, expected=1)
        assert [(k, v) for *_, k, v in got] == [(b"k", b"kept")]
    assert not _alive(new_pid)
    assert not broker.status().running


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port that something else is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_broker_that_dies_raises_with_its_log(
    broker_factory: Callable[[], LocalBroker], taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = broker_factory()
    # Every broker port handed out is already taken: the JVM fails to bind and exits, twice.
    real_pick = broker_mod.pick_free_port

    def pick(host: str = "127.0.0.1", exclude: frozenset[int] = frozenset()) -> int:
        # the broker port (picked first, nothing excluded) is taken; the controller port is free
        return real_pick(host, exclude) if exclude else taken_port

    monkeypatch.setattr(broker_mod, "pick_free_port", pick)

    with pytest.raises(BrokerError, match="exited during start") as info:
        broker.start(timeout=60)

    assert "Address already in use" in str(info.value)  # the tail of the broker's own log
    assert not broker.status().running
    assert not broker.pid_file.exists()


def test_port_taken_between_pick_and_bind_is_retried(
    broker_factory: Callable[[], LocalBroker], taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = broker_factory()
    real_pick = broker_mod.pick_free_port
    handed = iter([taken_port])

    def pick(*args: Any, **kwargs: Any) -> int:
        return next(handed, None) or real_pick(*args, **kwargs)

    monkeypatch.setattr(broker_mod, "pick_free_port", pick)

    bootstrap = broker.start(timeout=90)

    assert bootstrap != f"127.0.0.1:{taken_port}"
    assert broker.status().running
    broker.stop()


def test_fixed_port_in_use_is_refused(tmp_path: Path, taken_port: int) -> None:
    settings = Settings(bootstrap_servers=None, state_dir=tmp_path, broker_port=taken_port)
    broker = LocalBroker.from_settings(settings)
    with pytest.raises(BrokerError, match=f"127.0.0.1:{taken_port} is already in use"):
        broker.start(timeout=30)
    assert not broker.status().running


def test_an_orphaned_broker_is_swept_and_others_are_left_alone(
    broker_factory: Callable[[], LocalBroker], tmp_path: Path
) -> None:
    """The process that started a broker is SIGKILLed: its broker (own session) survives it.
    The sweep stops that one only: not a detached broker, not one whose owner is alive."""
    import os
    import signal
    import subprocess
    import sys

    state = tmp_path / "orphan-state"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from pipeline.broker import LocalBroker\n"
        "from pipeline.settings import Settings\n"
        "s = Settings(bootstrap_servers=None, state_dir=Path(sys.argv[1]), broker_port=0)\n"
        "LocalBroker.from_settings(s).start(timeout=120)\n"
        "print('up', flush=True)\n"
        "time.sleep(600)\n"
    )
    kept = broker_factory()  # owned by this (live) test process
    kept.start()
    detached = broker_factory()
    detached.start(detached=True)
    assert not detached.owner_file.exists()
    owner = subprocess.Popen(
        [sys.executable, "-c", script, str(state)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == b"up"
        orphan = LocalBroker.from_settings(Settings(bootstrap_servers=None, state_dir=state))
        orphan_pid = orphan.status().pid
        assert orphan_pid is not None
        assert orphan.owner_file.read_text().strip() == str(owner.pid)
    finally:
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
    assert _alive(orphan_pid)  # outlived its owner

    # (any LocalBroker.start sweeps too)
    assert broker_mod.sweep_orphans() == [orphan_pid]
    assert not _alive(orphan_pid)
    assert not orphan.status().running and not orphan.owner_file.exists()
    assert kept.status().running and detached.status().running
    assert broker_mod.sweep_orphans() == []
