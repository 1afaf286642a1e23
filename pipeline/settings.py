"""One frozen, typed settings object, read from ``EMBERWATCH_*`` environment variables.

Every entrypoint builds it once (``Settings()``) and passes it down explicitly; nothing else in the
project reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """All knobs of a worker and of the tools, with documented defaults.

    ``bootstrap_servers`` unset means: start and manage the embedded single-node broker.
    """

    model_config = SettingsConfigDict(env_prefix="EMBERWATCH_", frozen=True, extra="ignore")

    # --- Kafka ---------------------------------------------------------------------------------
    bootstrap_servers: str | None = Field(
        default=None, description="host:port[,host:port]; unset starts the embedded broker"
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
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
        description="silent this long (wall clock), a raw partition stops holding the watermark",
    )

    @property
    def embedded_broker(self) -> bool:
        return not self.bootstrap_servers
