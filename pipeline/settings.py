"""One frozen, typed settings object, read from ``EMBERWATCH_*`` environment variables.

Every entrypoint builds it once (``Settings()``) and passes it down explicitly; nothing else in the
project reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, FilePath, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO_ROOT = Path(__file__).resolve().parent.parent

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
# What aiokafka 0.14 (Faust) and kafka-python 3.0 both accept with a username and password.
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class Settings(BaseSettings):
    """All knobs of a worker and of the tools, with documented defaults.

    ``bootstrap_servers`` unset means: start and manage the embedded single-node broker.
    """

    model_config = SettingsConfigDict(env_prefix="EMBERWATCH_", frozen=True, extra="ignore")

    # --- Kafka ---------------------------------------------------------------------------------
    bootstrap_servers: str | None = Field(
        default=None, description="host:port[,host:port]; unset starts the embedded broker"
    )
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = Field(
        default="PLAIN", description="with SASL_PLAINTEXT or SASL_SSL"
    )
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: FilePath | None = Field(
        default=None,
        description="PEM CA bundle that signed the brokers' certificates; unset: the system CAs",
    )
    ssl_certfile: FilePath | None = Field(
        default=None, description="PEM client certificate chain for mutual TLS"
    )
    ssl_keyfile: FilePath | None = Field(
        default=None, description="PEM private key of ssl_certfile (unset: it is in ssl_certfile)"
    )
    ssl_key_password: SecretStr | None = Field(
        default=None, description="password of an encrypted ssl_keyfile"
    )
    app_id: str = Field(default="emberwatch", description="Faust app id and consumer group")
    topic_raw: str = "emberwatch.mentions.raw"
    topic_dead_letter: str = "emberwatch.mentions.dlq"
    topic_classified: str = "emberwatch.mentions.classified"
    topic_alerts: str = "emberwatch.alerts"
    topic_partitions: int = Field(default=4, ge=1)
    topic_replication: int = Field(default=1, ge=1)

    # --- embedded broker -----------------------------------------------------------------------
    state_dir: Path = Field(default=Path(".state"), description="worker tables, broker data, pids")
    broker_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port")
    broker_heap_mb: int = Field(default=512, ge=128)
    kafka_libs_dir: Path = Field(
        default=Path.home() / ".cache" / "emberwatch" / "kafka-libs",
        description="where the Kafka jars resolved from Maven Central are copied",
    )
    kafka_pom: Path = _REPO_ROOT / "deploy" / "kafka" / "pom.xml"

    # --- worker --------------------------------------------------------------------------------
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=0, le=65535, description="/metrics and health")
    brands_path: Path | None = Field(default=None, description="brand catalog YAML")
    catalog_strict: bool = Field(
        default=False, description="dead-letter mentions whose `brand` is not in the catalog"
    )
    model_path: Path | None = Field(default=None, description="classifier artifact; None: built in")
    classifier_threads: int = Field(
        default=0,
        ge=0,
        description="threads one classify call may use; 0: the machine's cores, at most 4",
    )
    data_dir: Path = Field(
        default=_REPO_ROOT.parent / "shared" / "data", description="labelled data for training"
    )
    max_message_bytes: int = Field(default=1_000_000, ge=1024)
    max_text_chars: int = Field(default=10_000, ge=16)
    ingest_batch_size: int = Field(default=2000, ge=1)
    ingest_batch_seconds: float = Field(default=0.2, gt=0)

    # --- detection (event time) ----------------------------------------------------------------
    bucket_seconds: int = Field(default=60, ge=1)
    allowed_lateness_seconds: int = Field(default=120, ge=0)
    idle_partition_seconds: float = Field(
        default=30.0,
        gt=0,
        description=(
            "silent this long (wall clock) and caught up, a raw partition stops holding the"
            " watermark"
        ),
    )

    @property
    def embedded_broker(self) -> bool:
        return not self.bootstrap_servers

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _security_is_consistent(self) -> Settings:
        """Refuse combinations a client would silently ignore or fail on only at connect time."""
        protocol = f"EMBERWATCH_SECURITY_PROTOCOL={self.security_protocol}"
        if self.uses_sasl:
            missing = [
                name
                for name, value in (
                    ("EMBERWATCH_SASL_USERNAME", self.sasl_username),
                    (
                        "EMBERWATCH_SASL_PASSWORD",
                        self.sasl_password.get_secret_value() if self.sasl_password else None,
                    ),
                )
                if not value
            ]
            if missing:
                msg = f"{protocol} needs {' and '.join(missing)}"
                raise ValueError(msg)
        elif self.sasl_username is not None or self.sasl_password is not None:
            msg = (
                f"EMBERWATCH_SASL_USERNAME/PASSWORD are set but {protocol} does not use SASL "
                "(use SASL_PLAINTEXT or SASL_SSL)"
            )
            raise ValueError(msg)
        tls_files = {
            "EMBERWATCH_SSL_CAFILE": self.ssl_cafile,
            "EMBERWATCH_SSL_CERTFILE": self.ssl_certfile,
            "EMBERWATCH_SSL_KEYFILE": self.ssl_keyfile,
            "EMBERWATCH_SSL_KEY_PASSWORD": self.ssl_key_password,
        }
        if not self.uses_ssl and any(v is not None for v in tls_files.values()):
            names = ", ".join(k for k, v in tls_files.items() if v is not None)
            msg = f"{names} set but {protocol} does not use TLS (use SSL or SASL_SSL)"
            raise ValueError(msg)
        if self.ssl_certfile is None and (
            self.ssl_keyfile is not None or self.ssl_key_password is not None
        ):
            msg = "EMBERWATCH_SSL_KEYFILE/KEY_PASSWORD need EMBERWATCH_SSL_CERTFILE (mutual TLS)"
            raise ValueError(msg)
        return self
