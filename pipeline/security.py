"""Kafka client security, built once from ``Settings`` for every client the project runs.

One TLS context (:func:`ssl_context`) serves both client libraries: the Faust worker (aiokafka,
via :func:`faust_credentials`) and the synchronous tools (kafka-python, via
:func:`kafka_python_config`), so the CA, the client certificate and hostname checking cannot
differ between them.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from pipeline.errors import ConfigError
from pipeline.settings import Settings

__all__ = ["check_tls", "faust_credentials", "kafka_python_config", "ssl_context"]


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The client TLS context for SSL and SASL_SSL; None when the protocol has no TLS.

    The brokers' certificates are verified (hostname included) against ``ssl_cafile`` when set,
    otherwise against the system CAs; ``ssl_certfile``/``ssl_keyfile`` add a client certificate.
    """
    if not settings.uses_ssl:
        return None
    cafile = settings.ssl_cafile
    try:
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except (ssl.SSLError, OSError) as exc:
        msg = f"EMBERWATCH_SSL_CAFILE={cafile} is not a usable PEM CA bundle: {exc}"
        raise ConfigError(msg) from exc
    if settings.ssl_certfile is not None:
        password = settings.ssl_key_password
        try:
            context.load_cert_chain(
                str(settings.ssl_certfile),
                str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
                password.get_secret_value() if password else None,
            )
        except (ssl.SSLError, OSError) as exc:
            msg = (
                f"client certificate {settings.ssl_certfile} with key "
                f"{settings.ssl_keyfile or '(in the same file)'} cannot be loaded "
                f"(wrong file, key or EMBERWATCH_SSL_KEY_PASSWORD?): {exc}"
            )
            raise ConfigError(msg) from exc
    return context


def _sasl_password(settings: Settings) -> str | None:
    return settings.sasl_password.get_secret_value() if settings.sasl_password else None


def faust_credentials(settings: Settings) -> Any:
    """Faust ``broker_credentials``: None for PLAINTEXT, else SSL or SASL credentials."""
    import faust

    context = ssl_context(settings)
    if settings.uses_sasl:
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=_sasl_password(settings),
            mechanism=settings.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def kafka_python_config(settings: Settings) -> dict[str, Any]:
    """kafka-python security settings (empty for PLAINTEXT).

    kafka-python takes the username and password under ``sasl_plain_*`` for SCRAM as well.
    """
    config: dict[str, Any] = {}
    if settings.security_protocol == "PLAINTEXT":
        return config
    config["security_protocol"] = settings.security_protocol
    context = ssl_context(settings)
    if context is not None:
        config["ssl_context"] = context
    if settings.uses_sasl:
        config["sasl_mechanism"] = settings.sasl_mechanism
        config["sasl_plain_username"] = settings.sasl_username
        config["sasl_plain_password"] = _sasl_password(settings)
    return config


def check_tls(
    settings: Settings, bootstrap: str, timeout: float = 10.0, alert_wait: float = 1.0
) -> None:
    """With TLS, shake hands with the first bootstrap server and explain a certificate refused.

    The Kafka clients only log such a failure and then report, after their bootstrap timeout,
    that they could not bootstrap; this names the certificate and the settings to check instead:
    the broker's certificate against the CA file, and the client certificate against a listener
    that requires one. Under TLS 1.3 the server judges the client certificate after the
    handshake, so its refusal is an alert read within ``alert_wait`` seconds (a server that
    accepted it just waits for a Kafka request). An unreachable server is left to the clients
    (they retry).
    """
    context = ssl_context(settings)
    if context is None:
        return
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    host = host.strip("[]")
    try:
        with (
            socket.create_connection((host, int(port)), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            tls.settimeout(alert_wait)
            try:
                tls.recv(1)
            except TimeoutError:
                return
            except ssl.SSLError as exc:
                if "CERTIFICATE" not in str(exc.reason or exc).upper():
                    return
                shown = settings.ssl_certfile or "(unset: none shown)"
                msg = (
                    f"TLS: the Kafka broker at {host}:{port} refused the client certificate "
                    f"(EMBERWATCH_SSL_CERTFILE={shown}; check EMBERWATCH_SSL_CERTFILE/KEYFILE "
                    f"and that the broker trusts its CA): {exc.reason or exc}"
                )
                raise ConfigError(msg) from exc
            return
    except ssl.SSLCertVerificationError as exc:
        cafile = settings.ssl_cafile or "(unset: the system CAs)"
        msg = (
            f"TLS: the certificate of the Kafka broker at {host}:{port} does not verify against "
            f"EMBERWATCH_SSL_CAFILE={cafile}: {exc.verify_message}"
        )
        raise ConfigError(msg) from exc
    except (OSError, ValueError):
        return  # refused, unreachable or a malformed address: the clients report it
