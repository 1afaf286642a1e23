"""Security settings: which combinations start, and the client configs built from them.

No broker here; tests/integration/test_secure_listeners.py runs these settings against a real one.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import ValidationError

from pipeline import cli
from pipeline.broker import (
    Listener,
    _security_hint,
    embedded_broker,
    pick_free_port,
    render_server_properties,
)
from pipeline.errors import ConfigError
from pipeline.security import (
    _auth_failure,
    check_sasl,
    check_tls,
    faust_credentials,
    kafka_python_config,
    ssl_context,
)
from pipeline.settings import Settings

TLS = Path(__file__).resolve().parent / "data" / "tls"
CA, CERT, KEY = TLS / "ca.pem", TLS / "client.pem", TLS / "client.key"
ENCRYPTED_KEY, KEY_PASSWORD = TLS / "client-encrypted.key", "unit-test-key"


@pytest.fixture(autouse=True)
def _no_emberwatch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment: only what a test passes counts."""
    for name in list(os.environ):
        if name.startswith("EMBERWATCH_"):
            monkeypatch.delenv(name)


def sasl(**extra: Any) -> Settings:
    values: dict[str, Any] = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_username": "alice",
        "sasl_password": "s3cret",
    }
    values.update(extra)
    return Settings(**values)


# --- validation -----------------------------------------------------------------------------------


def test_plaintext_is_the_default_and_needs_nothing() -> None:
    settings = Settings()
    assert settings.security_protocol == "PLAINTEXT"
    assert not settings.uses_sasl
    assert not settings.uses_ssl
    assert kafka_python_config(settings) == {}
    assert faust_credentials(settings) is None
    assert ssl_context(settings) is None


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ({"sasl_username": None}, "needs EMBERWATCH_SASL_USERNAME"),
        ({"sasl_password": None}, "needs EMBERWATCH_SASL_PASSWORD"),
        ({"sasl_password": ""}, "needs EMBERWATCH_SASL_PASSWORD"),
        (
            {"sasl_username": None, "sasl_password": None},
            "needs EMBERWATCH_SASL_USERNAME and EMBERWATCH_SASL_PASSWORD",
        ),
    ],
)
def test_sasl_needs_a_username_and_a_password(missing: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        sasl(**missing)


def test_the_mechanism_is_one_both_clients_support() -> None:
    assert sasl().sasl_mechanism == "PLAIN"
    assert sasl(sasl_mechanism="scram-sha-512").sasl_mechanism == "SCRAM-SHA-512"
    for unknown in ("SCRAM-SHA-1", "GSSAPI", "OAUTHBEARER", ""):
        with pytest.raises(ValidationError, match="SCRAM-SHA-256"):
            sasl(sasl_mechanism=unknown)


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValidationError, match="SASL_SSL"):
        Settings(security_protocol="TLS")
    assert Settings(security_protocol="ssl").security_protocol == "SSL"


def test_sasl_credentials_without_a_sasl_protocol_are_refused() -> None:
    with pytest.raises(ValidationError, match="does not use SASL"):
        Settings(sasl_username="alice", sasl_password="s3cret")
    with pytest.raises(ValidationError, match="does not use SASL"):
        Settings(security_protocol="SSL", sasl_username="alice")


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_tls_files_without_tls_are_refused(protocol: str) -> None:
    extra = {"sasl_username": "a", "sasl_password": "b"} if protocol.startswith("SASL") else {}
    with pytest.raises(ValidationError, match=r"EMBERWATCH_SSL_CAFILE set but .* not use TLS"):
        Settings(security_protocol=protocol, ssl_cafile=CA, **extra)


def test_a_key_without_a_certificate_is_refused() -> None:
    with pytest.raises(ValidationError, match="need EMBERWATCH_SSL_CERTFILE"):
        Settings(security_protocol="SSL", ssl_keyfile=KEY)
    with pytest.raises(ValidationError, match="need EMBERWATCH_SSL_CERTFILE"):
        Settings(security_protocol="SSL", ssl_key_password="x")


def test_tls_files_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="ssl_cafile"):
        Settings(security_protocol="SSL", ssl_cafile=tmp_path / "missing.pem")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBERWATCH_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("EMBERWATCH_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("EMBERWATCH_SASL_USERNAME", "alice")
    monkeypatch.setenv("EMBERWATCH_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("EMBERWATCH_SSL_CAFILE", str(CA))
    settings = Settings()
    assert settings.uses_sasl
    assert settings.uses_ssl
    assert settings.ssl_cafile == CA
    assert "s3cret" not in repr(settings)


def test_the_cli_names_the_bad_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EMBERWATCH_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("EMBERWATCH_SASL_USERNAME", "alice")
    assert cli.main(["topics"]) == 2
    err = capsys.readouterr().err
    assert "invalid settings" in err
    assert "EMBERWATCH_SECURITY_PROTOCOL=SASL_PLAINTEXT needs EMBERWATCH_SASL_PASSWORD" in err
    assert "Traceback" not in err

    monkeypatch.setenv("EMBERWATCH_SASL_MECHANISM", "MD5")
    monkeypatch.setenv("EMBERWATCH_SASL_PASSWORD", "x")
    assert cli.main(["topics"]) == 2
    assert "EMBERWATCH_SASL_MECHANISM: Input should be" in capsys.readouterr().err


# --- the TLS context ------------------------------------------------------------------------------


def _subjects(context: ssl.SSLContext) -> list[str]:
    return [value for cert in context.get_ca_certs() for rdn in cert["subject"] for _, value in rdn]


def test_the_tls_context_verifies_the_broker_with_the_private_ca() -> None:
    context = ssl_context(Settings(security_protocol="SSL", ssl_cafile=CA))
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert _subjects(context) == ["emberwatch unit-test CA"]  # only the configured CA


def test_without_a_ca_file_the_system_cas_are_used() -> None:
    context = ssl_context(Settings(security_protocol="SSL"))
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert "emberwatch unit-test CA" not in _subjects(context)


def test_client_certificates_load_plain_or_encrypted() -> None:
    assert ssl_context(
        Settings(security_protocol="SSL", ssl_cafile=CA, ssl_certfile=CERT, ssl_keyfile=KEY)
    )
    assert ssl_context(
        Settings(
            security_protocol="SSL",
            ssl_certfile=CERT,
            ssl_keyfile=ENCRYPTED_KEY,
            ssl_key_password=KEY_PASSWORD,
        )
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"ssl_keyfile": ENCRYPTED_KEY, "ssl_key_password": "wrong"}, "cannot be loaded"),
        ({"ssl_keyfile": CA}, "cannot be loaded"),  # not a key
        ({}, "cannot be loaded"),  # the certificate file holds no key
    ],
)
def test_a_bad_client_key_is_a_config_error(extra: dict[str, Any], expected: str) -> None:
    settings = Settings(security_protocol="SSL", ssl_certfile=CERT, **extra)
    with pytest.raises(ConfigError, match=expected):
        ssl_context(settings)


def test_a_file_that_is_no_ca_is_a_config_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n", encoding="ascii")
    with pytest.raises(ConfigError, match="EMBERWATCH_SSL_CAFILE"):
        ssl_context(Settings(security_protocol="SSL", ssl_cafile=junk))


def test_the_embedded_broker_is_not_started_for_a_secured_client(tmp_path: Path) -> None:
    settings = Settings(security_protocol="SSL", state_dir=tmp_path)
    with (
        pytest.raises(ConfigError, match="needs EMBERWATCH_BOOTSTRAP_SERVERS"),
        embedded_broker(settings),
    ):
        pass
    assert not (tmp_path / "broker").exists()


def test_check_tls_does_nothing_without_tls() -> None:
    check_tls(Settings(), "127.0.0.1:1")  # no connection attempted, nothing raised


# --- the client configs ---------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_kafka_python_sasl_plaintext(mechanism: str) -> None:
    assert kafka_python_config(sasl(sasl_mechanism=mechanism)) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "alice",
        "sasl_plain_password": "s3cret",
    }


def test_kafka_python_ssl_gets_the_shared_context() -> None:
    config = kafka_python_config(
        Settings(security_protocol="SSL", ssl_cafile=CA, ssl_certfile=CERT, ssl_keyfile=KEY)
    )
    assert config.keys() == {"security_protocol", "ssl_context"}
    assert config["security_protocol"] == "SSL"
    assert isinstance(config["ssl_context"], ssl.SSLContext)
    assert _subjects(config["ssl_context"]) == ["emberwatch unit-test CA"]


def test_kafka_python_sasl_ssl() -> None:
    config = kafka_python_config(
        sasl(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", ssl_cafile=CA)
    )
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert isinstance(config["ssl_context"], ssl.SSLContext)


def test_faust_ssl_credentials_reach_aiokafka_with_the_context() -> None:
    credentials = faust_credentials(Settings(security_protocol="SSL", ssl_cafile=CA))
    assert isinstance(credentials, faust.SSLCredentials)
    auth = credentials_to_aiokafka_auth(credentials)
    assert auth["security_protocol"] == "SSL"
    assert _subjects(auth["ssl_context"]) == ["emberwatch unit-test CA"]


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [("SASL_PLAINTEXT", "PLAIN"), ("SASL_SSL", "SCRAM-SHA-256"), ("SASL_SSL", "SCRAM-SHA-512")],
)
def test_faust_sasl_credentials_reach_aiokafka(protocol: str, mechanism: str) -> None:
    tls = {"ssl_cafile": CA} if protocol == "SASL_SSL" else {}
    settings = sasl(security_protocol=protocol, sasl_mechanism=mechanism, **tls)
    auth = credentials_to_aiokafka_auth(faust_credentials(settings))
    assert auth["security_protocol"] == protocol
    assert auth["sasl_mechanism"] == mechanism
    assert auth["sasl_plain_username"] == "alice"
    assert auth["sasl_plain_password"] == "s3cret"
    if protocol == "SASL_SSL":
        assert _subjects(auth["ssl_context"]) == ["emberwatch unit-test CA"]
    else:
        assert auth["ssl_context"] is None


def test_connection_errors_say_what_to_check() -> None:
    assert _security_hint(None) == ""
    assert _security_hint({}) == ""
    hint = _security_hint(kafka_python_config(sasl(sasl_mechanism="SCRAM-SHA-256")))
    assert "SASL SCRAM-SHA-256 authentication for 'alice'" in hint
    assert "EMBERWATCH_SASL_PASSWORD" in hint
    assert "s3cret" not in hint
    assert "EMBERWATCH_SSL_CAFILE" in _security_hint(
        kafka_python_config(Settings(security_protocol="SSL", ssl_cafile=CA))
    )


# --- broker listeners -----------------------------------------------------------------------------


def _parse(text: str) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )


def test_extra_listeners_are_added_next_to_plaintext(tmp_path: Path) -> None:
    props = _parse(
        render_server_properties(
            port=1,
            controller_port=2,
            data_dir=tmp_path,
            extra_listeners=[Listener("SASL", "SASL_PLAINTEXT", 3), Listener("TLS", "SSL", 4)],
            extra_properties={"sasl.enabled.mechanisms": "PLAIN"},
        )
    )
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:1,SASL://127.0.0.1:3,TLS://127.0.0.1:4,CONTROLLER://127.0.0.1:2"
    )
    assert props["advertised.listeners"] == (
        "PLAINTEXT://127.0.0.1:1,SASL://127.0.0.1:3,TLS://127.0.0.1:4"
    )
    assert props["listener.security.protocol.map"] == (
        "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL:SASL_PLAINTEXT,TLS:SSL"
    )
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == "PLAIN"


def test_extra_listeners_cannot_replace_the_built_in_ones(tmp_path: Path) -> None:
    for name in ("PLAINTEXT", "CONTROLLER", "sasl", "A-B"):
        with pytest.raises(ValueError, match="listener name"):
            render_server_properties(
                port=1,
                controller_port=2,
                data_dir=tmp_path,
                extra_listeners=[Listener(name, "SSL", 3)],
            )
    with pytest.raises(ValueError, match="would replace"):
        render_server_properties(
            port=1, controller_port=2, data_dir=tmp_path, extra_properties={"listeners": "x"}
        )


def test_demo_keep_running_does_not_start_the_embedded_broker_for_a_secured_client(
    tmp_path: Path,
) -> None:
    from pipeline.demo import run_demo

    settings = Settings(security_protocol="SSL", state_dir=tmp_path)
    with pytest.raises(ConfigError, match="needs EMBERWATCH_BOOTSTRAP_SERVERS"):
        run_demo(settings, keep_running=True)
    assert not (tmp_path / "broker").exists()


def test_check_sasl_leaves_anything_but_a_refused_login_to_the_clients() -> None:
    check_sasl(Settings(), "127.0.0.1:1")  # PLAINTEXT: nothing to check
    closed = pick_free_port()
    check_sasl(sasl(), f"127.0.0.1:{closed}", timeout=2.0)  # refused connection: not a login


def test_a_refused_login_is_found_anywhere_in_the_exception_chain() -> None:
    class SaslAuthenticationFailed(Exception):
        pass

    outer = ConnectionError("bootstrap failed")
    outer.__cause__ = SaslAuthenticationFailed("Authentication failed: Invalid password")
    assert _auth_failure(outer) is outer.__cause__
    assert _auth_failure(ConnectionError("connection refused")) is None
