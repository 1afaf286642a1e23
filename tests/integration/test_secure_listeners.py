"""TLS and SASL against a real broker: the tools and a worker, through secured listeners.

One broker for the module, started with three client listeners next to its plaintext one (which it
uses for itself and for the readiness check; the controller listener stays plaintext):

- ``SASL``: SASL_PLAINTEXT with PLAIN (users in the listener's JAAS config) and SCRAM-SHA-256/512
  (credentials written into the KRaft metadata when the storage is formatted);
- ``MTLS``: SSL with a broker certificate signed by a CA made for the test, client certificate
  required;
- ``SASLSSL``: SASL_SSL (PLAIN and SCRAM) with the same broker certificate.

The CA, keys and keystores are made here with ``openssl`` and the JDK's ``keytool``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_pipeline import (  # tests/integration is on sys.path
    small_stream,
    wait_until_detected,
    with_trailer,
)

from pipeline.broker import HOST, Listener, LocalBroker, pick_free_port
from pipeline.errors import BrokerError
from pipeline.samples import CATALOG, CRISIS_BRAND, write_demo_stream
from pipeline.settings import Settings
from pipeline.tools import consume, replay

USER, PASSWORD = "alice", "alice-secret"
STORE_PASSWORD = "changeit"
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


# --- certificates ---------------------------------------------------------------------------------


def _run(*argv: str, cwd: Path) -> None:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"{argv[0]} failed: {result.stdout}{result.stderr}"


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _run(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", str(key), "-out", str(cert), "-subj", f"/CN=emberwatch test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return key, cert


def _issue(directory: Path, ca: tuple[Path, Path], name: str, usage: str) -> tuple[Path, Path]:
    """A key and a certificate for 127.0.0.1/localhost signed by ``ca``."""
    key, csr, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
    ext = directory / f"{name}.ext"
    ext.write_text(
        f"subjectAltName=IP:{HOST},DNS:localhost\nextendedKeyUsage={usage}\n", encoding="ascii"
    )
    _run(
        "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    _run(
        "openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
        "-CAcreateserial", "-days", "2", "-out", str(cert), "-extfile", str(ext),
        cwd=directory,
    )  # fmt: skip
    return key, cert


@dataclass(frozen=True)
class Pki:
    ca: Path
    other_ca: Path  # signed nothing the broker uses
    client_cert: Path
    client_key: Path
    keystore: Path
    truststore: Path


def make_pki(directory: Path) -> Pki:
    for tool in ("openssl", "keytool"):
        if shutil.which(tool) is None:
            pytest.fail(f"the TLS tests need {tool!r} on PATH", pytrace=False)
    ca = _make_ca(directory, "ca")
    other = _make_ca(directory, "other-ca")
    broker_key, broker_cert = _issue(directory, ca, "broker", "serverAuth")
    client_key, client_cert = _issue(directory, ca, "client", "clientAuth")
    keystore = directory / "broker.p12"
    _run(
        "openssl", "pkcs12", "-export", "-in", str(broker_cert), "-inkey", str(broker_key),
        "-certfile", str(ca[1]), "-name", "broker", "-out", str(keystore),
        "-passout", f"pass:{STORE_PASSWORD}",
        cwd=directory,
    )  # fmt: skip
    truststore = directory / "truststore.p12"
    _run(
        "keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", str(ca[1]),
        "-keystore", str(truststore), "-storetype", "PKCS12", "-storepass", STORE_PASSWORD,
        cwd=directory,
    )  # fmt: skip
    return Pki(ca[1], other[1], client_cert, client_key, keystore, truststore)


# --- the broker -----------------------------------------------------------------------------------


def _jaas(mechanism: str) -> str:
    if mechanism == "PLAIN":
        return (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_{USER}="{PASSWORD}";'
        )
    return "org.apache.kafka.common.security.scram.ScramLoginModule required;"


def broker_properties(pki: Pki) -> dict[str, str]:
    props = {"sasl.enabled.mechanisms": ",".join(MECHANISMS)}
    for listener in ("sasl", "saslssl"):
        props[f"listener.name.{listener}.sasl.enabled.mechanisms"] = ",".join(MECHANISMS)
        for mechanism in MECHANISMS:
            props[f"listener.name.{listener}.{mechanism.lower()}.sasl.jaas.config"] = _jaas(
                mechanism
            )
    for listener, client_auth in (("mtls", "required"), ("saslssl", "none")):
        prefix = f"listener.name.{listener}."
        props.update(
            {
                prefix + "ssl.keystore.type": "PKCS12",
                prefix + "ssl.keystore.location": str(pki.keystore),
                prefix + "ssl.keystore.password": STORE_PASSWORD,
                prefix + "ssl.key.password": STORE_PASSWORD,
                prefix + "ssl.truststore.type": "PKCS12",
                prefix + "ssl.truststore.location": str(pki.truststore),
                prefix + "ssl.truststore.password": STORE_PASSWORD,
                prefix + "ssl.client.auth": client_auth,
            }
        )
    return props


@dataclass(frozen=True)
class SecureBroker:
    sasl: str
    mtls: str
    sasl_ssl: str
    pki: Pki
    server_log: Path


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    ports: set[int] = set()
    for _ in range(3):
        ports.add(pick_free_port(exclude=frozenset(ports)))
    sasl, mtls, sasl_ssl = sorted(ports)
    base = LocalBroker.from_settings(
        Settings(bootstrap_servers=None, state_dir=tmp_path_factory.mktemp("secure-kafka"))
    )
    broker = LocalBroker(
        base.broker_dir,
        libs_dir=base.libs_dir,
        pom=base.pom,
        heap_mb=base.heap_mb,
        extra_listeners=[
            Listener("SASL", "SASL_PLAINTEXT", sasl),
            Listener("MTLS", "SSL", mtls),
            Listener("SASLSSL", "SASL_SSL", sasl_ssl),
        ],
        extra_properties=broker_properties(pki),
        format_args=[
            arg
            for mechanism in MECHANISMS[1:]
            for arg in ("--add-scram", f"{mechanism}=[name={USER},password={PASSWORD}]")
        ],
    )
    try:
        broker.start(timeout=120.0)
    except BrokerError as exc:
        broker.stop()
        pytest.fail(f"the secured Kafka broker could not start: {exc}", pytrace=False)
    try:
        yield SecureBroker(
            f"{HOST}:{sasl}", f"{HOST}:{mtls}", f"{HOST}:{sasl_ssl}", pki, broker.server_log
        )
    finally:
        broker.stop()


# --- helpers --------------------------------------------------------------------------------------


def sasl_env(mechanism: str = "PLAIN", password: str = PASSWORD) -> dict[str, str]:
    return {
        "EMBERWATCH_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "EMBERWATCH_SASL_MECHANISM": mechanism,
        "EMBERWATCH_SASL_USERNAME": USER,
        "EMBERWATCH_SASL_PASSWORD": password,
    }


def mtls_env(pki: Pki) -> dict[str, str]:
    return {
        "EMBERWATCH_SECURITY_PROTOCOL": "SSL",
        "EMBERWATCH_SSL_CAFILE": str(pki.ca),
        "EMBERWATCH_SSL_CERTFILE": str(pki.client_cert),
        "EMBERWATCH_SSL_KEYFILE": str(pki.client_key),
    }


def sasl_ssl_env(pki: Pki, mechanism: str = "PLAIN") -> dict[str, str]:
    return dict(
        sasl_env(mechanism),
        EMBERWATCH_SECURITY_PROTOCOL="SASL_SSL",
        EMBERWATCH_SSL_CAFILE=str(pki.ca),
    )


def assert_worker_classifies(bootstrap: str, settings: Settings, worker: Any, path: Path) -> None:
    """20 mentions replayed through ``bootstrap`` all come out of the worker classified."""
    replay(small_stream(path), settings, bootstrap, speed=None)
    worker.wait_for(
        lambda: worker.total("emberwatch_mentions_classified_total") >= 20,
        120,
        "classification",
    )
    classified = list(
        consume(settings, bootstrap, settings.topic_classified, from_beginning=True, timeout=5)
    )
    ids = {m["i"] for v in classified for m in orjson.loads(v).get("mentions", [])}
    assert ids == {str(i) for i in range(20)}


def assert_fails_clearly(
    result: subprocess.CompletedProcess[str], started: float, *expected: str
) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert time.monotonic() - started < 90
    message = result.stderr.lower()
    assert "emberwatch:" in message, result.stderr
    assert any(word in message for word in expected), result.stderr


# --- SASL -----------------------------------------------------------------------------------------


def test_worker_and_tools_through_sasl_plain(
    secure_broker: SecureBroker,
    fresh_env: Callable[..., dict[str, str]],
    worker_factory: Callable[[dict[str, str]], Any],
    settings_for: Callable[[dict[str, str]], Settings],
    cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    """The sample crisis, replayed by `emberwatch replay` through SASL/PLAIN, gives the crisis
    alerts from a worker that also talks SASL; `emberwatch alerts tail` reads them back."""
    bootstrap = secure_broker.sasl
    stream = tmp_path / "mentions.jsonl"
    write_demo_stream(stream)
    total = with_trailer(stream)
    env = fresh_env(bootstrap, EMBERWATCH_BRANDS_PATH=str(CATALOG), **sasl_env())
    settings = settings_for(env)
    worker = worker_factory(env)

    result = cli("replay", str(stream), env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    assert f"sent {total} mentions" in result.stdout
    worker.wait_for(
        lambda: worker.total("emberwatch_mentions_ingested_total") >= total,
        180,
        "ingest",
    )
    wait_until_detected(worker, settings, stream)

    tail = cli(
        "alerts", "tail", "--from-beginning", "--json", "--timeout", "5", env=env, timeout=120
    )
    assert tail.returncode == 0, tail.stderr
    alerts = [orjson.loads(line) for line in tail.stdout.splitlines()]
    crisis = [a for a in alerts if a["brand"] == CRISIS_BRAND]
    assert any(a["severity"] in ("warning", "critical") for a in crisis), alerts
    classified = worker.total("emberwatch_mentions_classified_total")
    assert classified > 0


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_tools_through_sasl_scram(
    secure_broker: SecureBroker,
    fresh_env: Callable[..., dict[str, str]],
    settings_for: Callable[[dict[str, str]], Settings],
    cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    mechanism: str,
) -> None:
    env = fresh_env(secure_broker.sasl, **sasl_env(mechanism))
    settings = settings_for(env)
    topics = cli("topics", env=env, timeout=120)
    assert topics.returncode == 0, topics.stderr
    sent = replay(small_stream(tmp_path / "m.jsonl"), settings, secure_broker.sasl, speed=None)
    got = list(
        consume(
            settings,
            secure_broker.sasl,
            settings.topic_raw,
            from_beginning=True,
            timeout=10,
            max_messages=20,
        )
    )
    assert sent.sent == len(got) == 20


def test_a_wrong_password_stops_the_worker_with_a_clear_error(
    secure_broker: SecureBroker,
    fresh_env: Callable[..., dict[str, str]],
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """`emberwatch run` with a wrong password exits at once (not after the clients' 30-s
    bootstrap timeout) with exit code 2, the broker's reason and the SASL settings to check;
    the broker did refuse the login."""
    refused_before = secure_broker.server_log.read_text(errors="replace").count(
        "Failed authentication"
    )
    env = fresh_env(secure_broker.sasl, **sasl_env(password="wrong"))
    started = time.monotonic()
    result = cli("run", env=env, timeout=120)
    assert_fails_clearly(result, started, "login as 'alice' refused")
    assert "EMBERWATCH_SASL_PASSWORD" in result.stderr
    assert time.monotonic() - started < 20, result.stderr
    assert "wrong" not in result.stderr.split("emberwatch:")[-1]  # the password is not echoed
    refused = secure_broker.server_log.read_text(errors="replace").count("Failed authentication")
    assert refused > refused_before


# --- TLS ------------------------------------------------------------------------------------------


def test_worker_through_mutual_tls_with_a_private_ca(
    secure_broker: SecureBroker,
    fresh_env: Callable[..., dict[str, str]],
    worker_factory: Callable[[dict[str, str]], Any],
    settings_for: Callable[[dict[str, str]], Settings],
    tmp_path: Path,
) -> None:
    """The client verifies the broker with EMBERWATCH_SSL_CAFILE and shows its own certificate
    (the listener requires one): the tools and a worker classify mentions through it."""
    env = fresh_env(secure_broker.mtls, **mtls_env(secure_broker.pki))
    assert_worker_classifies(
        secure_broker.mtls, settings_for(env), worker_factory(env), tmp_path / "m.jsonl"
    )


def test_worker_through_sasl_ssl(
    secure_broker: SecureBroker,
    fresh_env: Callable[..., dict[str, str]],
    worker_factory: Callable[[dict[str, str]], Any],
    settings_for: Callable[[dict[str, str]], Settings],
    tmp_path: Path,
) -> None:
    """SCRAM-SHA-512 over TLS (the broker verified with EMBERWATCH_SSL_CAFILE): the tools and a
    worker classify mentions through it."""
    env = fresh_env(secure_broker.sasl_ssl, **sasl_ssl_env(secure_broker.pki, "SCRAM-SHA-512"))
    assert_worker_classifies(
        secure_broker.sasl_ssl, settings_for(env), worker_factory(env), tmp_path / "m.jsonl"
    )


def test_tools_through_sasl_ssl(
    secure_broker: SecureBroker,
    fresh_env: Callable[..., dict[str, str]],
    settings_for: Callable[[dict[str, str]], Settings],
    cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    env = fresh_env(secure_broker.sasl_ssl, **sasl_ssl_env(secure_broker.pki))
    settings = settings_for(env)
    result = cli("replay", str(small_stream(tmp_path / "m.jsonl")), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    got = list(
        consume(
            settings,
            secure_broker.sasl_ssl,
            settings.topic_raw,
            from_beginning=True,
            timeout=10,
            max_messages=20,
        )
    )
    assert len(got) == 20


def test_a_broker_certificate_from_another_ca_is_refused(
    secure_broker: SecureBroker,
    fresh_env: Callable[..., dict[str, str]],
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    env = fresh_env(
        secure_broker.mtls,
        **dict(mtls_env(secure_broker.pki), EMBERWATCH_SSL_CAFILE=str(secure_broker.pki.other_ca)),
    )
    started = time.monotonic()
    result = cli("topics", env=env, timeout=120)
    assert_fails_clearly(result, started, "certificate verify failed", "certificate")


def test_a_client_without_a_certificate_is_refused_by_a_mutual_tls_listener(
    secure_broker: SecureBroker,
    fresh_env: Callable[..., dict[str, str]],
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """The listener requires a client certificate: without EMBERWATCH_SSL_CERTFILE the tools
    fail at once (not after the clients' bootstrap timeout) with exit code 2, naming it."""
    env = fresh_env(
        secure_broker.mtls,
        EMBERWATCH_SECURITY_PROTOCOL="SSL",
        EMBERWATCH_SSL_CAFILE=str(secure_broker.pki.ca),
    )
    started = time.monotonic()
    result = cli("topics", env=env, timeout=120)
    assert_fails_clearly(result, started, "refused the client certificate")
    assert "EMBERWATCH_SSL_CERTFILE" in result.stderr
    assert time.monotonic() - started < 20  # the clients alone take about 30 s to give up
