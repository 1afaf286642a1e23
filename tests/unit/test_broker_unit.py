"""Pure parts of pipeline.broker: no JVM, no Maven, no network beyond binding loopback ports."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipeline import broker as broker_mod
from pipeline.broker import (
    LocalBroker,
    embedded_broker,
    ensure_jars,
    new_cluster_id,
    pick_free_port,
    render_server_properties,
)
from pipeline.errors import BrokerError
from pipeline.settings import Settings


def _parse(properties: str) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in properties.splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


def _which_without(*missing: str) -> Any:
    def which(name: str) -> str | None:
        return None if name in missing else f"/usr/bin/{name}"

    return which


# --- server.properties ----------------------------------------------------------------------------


def test_server_properties_single_node_kraft_on_loopback(tmp_path: Path) -> None:
    props = _parse(render_server_properties(port=19092, controller_port=19093, data_dir=tmp_path))

    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path)
    assert props["num.partitions"] == "4"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor"):
        assert props[key] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props.get("auto.create.topics.enable", "true") == "true"
    # nothing listens beyond loopback
    hosts = re.findall(r"//([^:,]+):", props["listeners"] + "," + props["advertised.listeners"])
    assert set(hosts) == {"127.0.0.1"}


def test_server_properties_partitions_and_escaping() -> None:
    text = render_server_properties(
        port=1, controller_port=2, data_dir=Path("/tmp/wéird\\dir"), num_partitions=8
    )
    props = _parse(text)
    assert props["num.partitions"] == "8"
    assert props["log.dirs"] == "/tmp/w\\u00e9ird\\\\dir"
    text.encode("ascii")  # java.util.Properties reads ISO-8859-1: keep the file ASCII


# --- ports, ids -----------------------------------------------------------------------------------


def test_pick_free_port_is_bindable_on_loopback() -> None:
    port = pick_free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_pick_free_port_skips_excluded(monkeypatch: pytest.MonkeyPatch) -> None:
    first = pick_free_port()
    ports = iter([first, first, first + 1])

    class FakeSocket:
        def __init__(self, *_: object) -> None:
            self.port = next(ports)

        def __enter__(self) -> FakeSocket:
            return self

        def __exit__(self, *_: object) -> None:
            return None

        def bind(self, _: object) -> None:
            return None

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(broker_mod.socket, "socket", FakeSocket)
    assert pick_free_port(exclude=frozenset({first})) == first + 1


def test_cluster_id_looks_like_kafkas() -> None:
    ids = {new_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) and not i.startswith("-") for i in ids)


# --- jars -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "package"),
    [("java", "openjdk-17-jre-headless"), ("mvn", "maven")],
)
def test_missing_tool_names_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str, package: str
) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text("<project/>", encoding="utf-8")
    monkeypatch.setattr(broker_mod.shutil, "which", _which_without(missing))

    with pytest.raises(BrokerError, match=package) as info:
        ensure_jars(tmp_path / "libs", pom)

    assert f"'{missing}' not found" in str(info.value)
    assert "EMBERWATCH_BOOTSTRAP_SERVERS" in str(info.value)
    assert info.value.retriable


def test_missing_java_fails_start_even_with_jars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text("<project/>", encoding="utf-8")
    libs = tmp_path / "libs"
    _fake_fetch(monkeypatch, calls=[])
    ensure_jars(libs, pom)
    monkeypatch.setattr(broker_mod.shutil, "which", _which_without("java"))

    broker = LocalBroker(tmp_path / "state" / "broker", libs_dir=libs, pom=pom)
    with pytest.raises(BrokerError, match="openjdk-17-jre-headless"):
        broker.start(timeout=5)


def _fake_fetch(monkeypatch: pytest.MonkeyPatch, calls: list[list[str]]) -> None:
    """Stand in for mvn: write one jar into -DoutputDirectory."""
    monkeypatch.setattr(broker_mod.shutil, "which", _which_without())

    def run(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        out = Path(next(a for a in argv if a.startswith("-DoutputDirectory=")).split("=", 1)[1])
        (out / f"kafka-{len(calls)}.jar").write_bytes(b"PK")
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(broker_mod.subprocess, "run", run)


def test_ensure_jars_fetches_once_and_again_when_the_pom_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text("<project>v1</project>", encoding="utf-8")
    libs = tmp_path / "cache" / "kafka-libs"
    calls: list[list[str]] = []
    _fake_fetch(monkeypatch, calls)

    assert ensure_jars(libs, pom) == libs
    assert ensure_jars(libs, pom) == libs
    assert len(calls) == 1
    assert calls[0][1:6] == ["-q", "-B", "-f", str(pom.resolve()), "dependency:copy-dependencies"]
    assert "-DincludeScope=runtime" in calls[0]
    assert sorted(p.name for p in libs.glob("*.jar")) == ["kafka-1.jar"]

    pom.write_text("<project>v2</project>", encoding="utf-8")
    ensure_jars(libs, pom)
    assert len(calls) == 2
    assert sorted(p.name for p in libs.glob("*.jar")) == ["kafka-2.jar"]  # replaced, not merged
    assert sorted(p.name for p in libs.parent.iterdir() if p.is_dir()) == ["kafka-libs"]


def test_ensure_jars_reports_maven_failure_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text("<project/>", encoding="utf-8")
    monkeypatch.setattr(broker_mod.shutil, "which", _which_without())

    def run(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "", "[ERROR] Could not resolve kafka_2.13\n")

    monkeypatch.setattr(broker_mod.subprocess, "run", run)
    libs = tmp_path / "cache" / "libs"
    with pytest.raises(BrokerError, match=r"Could not resolve kafka_2\.13"):
        ensure_jars(libs, pom)
    assert not libs.exists()
    assert [p.name for p in libs.parent.iterdir() if p.is_dir()] == []


def test_ensure_jars_missing_pom(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="pom not found"):
        ensure_jars(tmp_path / "libs", tmp_path / "nope.xml")


# --- pid handling, settings -----------------------------------------------------------------------


def test_stop_never_signals_a_foreign_pid(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path / "broker", libs_dir=tmp_path / "libs", pom=tmp_path / "pom.xml")
    broker.broker_dir.mkdir()
    broker.pid_file.write_text(f"{os.getpid()}\n", encoding="ascii")  # our pytest, not a JVM

    assert not broker.status().running
    broker.stop()  # must not SIGTERM this very process

    assert not broker.pid_file.exists()


def test_status_of_a_never_started_broker(tmp_path: Path) -> None:
    broker = LocalBroker.from_settings(Settings(state_dir=tmp_path, bootstrap_servers=None))
    status = broker.status()
    assert (status.running, status.pid, status.bootstrap) == (False, None, None)
    assert status.data_dir == (tmp_path / "broker" / "data").resolve()


def test_embedded_broker_with_configured_bootstrap_touches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: object, **__: object) -> str:
        msg = "must not start a local broker"
        raise AssertionError(msg)

    monkeypatch.setattr(LocalBroker, "start", boom)
    monkeypatch.setattr(LocalBroker, "stop", boom)
    settings = Settings(bootstrap_servers="kafka-1:9092,kafka-2:9092", state_dir=tmp_path)

    with embedded_broker(settings) as bootstrap:
        assert bootstrap == "kafka-1:9092,kafka-2:9092"
    assert not (tmp_path / "broker").exists()
