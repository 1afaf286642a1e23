"""Kafka client security, built once from ``Settings`` for every client the project runs.

One TLS context (:func:`ssl_context`) serves both client libraries: the Faust worker (aiokafka,
via :func:`faust_credentials`) and the synchronous tools (kafka-python, via
:func:`kafka_python_config`), so the CA, the client certificate and hostname checking cannot
differ between them.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

from pipeline.errors import ConfigError
from pipeline.settings import Settings

__all__ = ["check_sasl", "check_tls", "faust_credentials", "kafka_python_config", "ssl_context"]


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


def _first_server(bootstrap: str) -> tuple[str, int] | None:
    """Host and port of the first ``host:port`` in a bootstrap list (IPv6 brackets removed);
    None when malformed (the clients report that)."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    return (host.strip("[]"), int(port)) if port.isdigit() else None


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
    server = _first_server(bootstrap)
    if server is None:
        return
    host, port = server
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
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


def _auth_failure(exc: BaseException) -> BaseException | None:
    """The SASL authentication error in an exception chain, if there is one."""
    seen: BaseException | None = exc
    while seen is not None:
        name = type(seen).__name__
        if "Authentication" in name or "authentication failed" in str(seen).lower():
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def check_sasl(settings: Settings, bootstrap: str, timeout: float = 15.0) -> None:
    """With SASL, log in once to the first bootstrap server and explain a refused login.

    The Kafka clients only log a refused login, retry it, and report after their bootstrap
    timeout (about 30 s) that the cluster is unreachable; this fails at once with the broker's
    reason and the settings to check. Anything but a refused login (an unreachable server, a
    timeout) is left to the clients. Skipped inside a running event loop.
    """
    if not settings.uses_sasl:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return
    from aiokafka.conn import create_conn

    server = _first_server(bootstrap)
    if server is None:
        return
    host, port = server

    async def log_in() -> None:
        # one connection to the first bootstrap server: create_conn raises the broker's refusal
        # itself (the client's bootstrap only logs it and reports the cluster unreachable)
        conn = await asyncio.wait_for(
            create_conn(
                host,
                port,
                request_timeout_ms=int(timeout * 1000),
                ssl_context=ssl_context(settings),
                security_protocol=settings.security_protocol,
                sasl_mechanism=settings.sasl_mechanism,
                sasl_plain_username=settings.sasl_username,
                sasl_plain_password=_sasl_password(settings),
            ),
            timeout,
        )
        conn.close()

    try:
        asyncio.run(log_in())
    except Exception as exc:
        refused = _auth_failure(exc)
        if refused is None:
            return
        msg = (
            f"SASL {settings.sasl_mechanism} login as {settings.sasl_username!r} refused by the "
            f"Kafka broker at {bootstrap} (check EMBERWATCH_SASL_USERNAME, "
            f"EMBERWATCH_SASL_PASSWORD and EMBERWATCH_SASL_MECHANISM): {refused}"
        )
        raise ConfigError(msg) from exc
