"""The Faust app: topics and the state table declared once, agents registered from ``agents``.

``build_app`` is the only place that knows Faust's configuration; everything it wires is built from
the ``Settings`` passed in, so tests run workers on fresh topic names against a real broker.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
from faust.web import Request, Response, View

from pipeline.catalog import BrandCatalog
from pipeline.delivery import Processed
from pipeline.detection import LiveDetection, config_resolver
from pipeline.faust_fixes import is_ready, keep_queued_messages_on_resume
from pipeline.metrics import Metrics
from pipeline.processing import Ingestor
from pipeline.security import faust_credentials
from pipeline.settings import Settings

logger = logging.getLogger(__name__)

WATERMARK_KEY = b"\x00watermark"


@dataclass
class WorkerContext:
    """What the agents share: settings, the pure components, metrics, topics and the table."""

    settings: Settings
    catalog: BrandCatalog
    ingestor: Ingestor
    detection: LiveDetection
    metrics: Metrics
    raw_topic: Any
    dead_letter_topic: Any
    classified_topic: Any
    alerts_topic: Any
    state_table: Any
    started_at: float
    classified_partitions: int  # progress messages go to every one of them
    processed: Processed = field(default_factory=Processed)  # skip what Kafka hands over again


def load_catalog(settings: Settings) -> BrandCatalog:
    if settings.brands_path is None:
        logger.warning(
            "no brand catalog (EMBERWATCH_BRANDS_PATH): only mentions with `brand` count"
        )
        return BrandCatalog([], strict=settings.catalog_strict)
    return BrandCatalog.load(settings.brands_path, strict=settings.catalog_strict)


def build_app(
    settings: Settings,
    bootstrap: str,
    classifier: Any,
    raw_partitions: int,
    classified_partitions: int | None = None,
) -> tuple[faust.App, WorkerContext]:
    """The Faust app and what its agents share. ``raw_partitions`` and ``classified_partitions``
    are the partition counts the topics really have (they may predate the settings)."""
    catalog = load_catalog(settings)
    datadir = Path(settings.state_dir) / "worker"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{bootstrap}",
        broker_credentials=faust_credentials(settings),
        store="rocksdb://",
        datadir=str(datadir),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest",
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_enabled=True,
        web_in_thread=True,  # /metrics and /ready answer even while a batch is classified
        broker_commit_interval=1.0,
        producer_linger=0.01,
        producer_max_request_size=4 * 1024 * 1024,  # dead letters of the largest raw messages
        stream_wait_empty=False,
        table_cleanup_interval=3600.0,
        worker_redirect_stdouts=False,
    )
    keep_queued_messages_on_resume(app)  # before any agent exists: see pipeline.faust_fixes
    metrics = Metrics(catalog.ids())

    classified_partitions = classified_partitions or settings.topic_partitions

    def topic(name: str, partitions: int = settings.topic_partitions) -> Any:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=partitions,
        )

    ctx = WorkerContext(
        settings=settings,
        catalog=catalog,
        ingestor=Ingestor(
            catalog,
            classifier,
            max_message_bytes=settings.max_message_bytes,
            max_text_chars=settings.max_text_chars,
        ),
        detection=LiveDetection(config_resolver(settings, catalog), raw_partitions),
        metrics=metrics,
        raw_topic=topic(settings.topic_raw),
        dead_letter_topic=topic(settings.topic_dead_letter),
        classified_topic=topic(settings.topic_classified, classified_partitions),
        alerts_topic=topic(settings.topic_alerts),
        state_table=app.Table(
            "detector-state",
            default=None,
            key_type=bytes,
            value_type=bytes,
            # co-partitioned with the classified topic (Faust requires it)
            partitions=classified_partitions,
        ),
        started_at=time.time(),
        classified_partitions=classified_partitions,
    )

    from agents import detect, ingest

    ingest.register(app, ctx)
    detect.register(app, ctx)
    _register_pages(app, ctx)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode types it as sync only
    async def _forget(_app: Any, *args: Any, signal: Any, **_: Any) -> None:
        revoked = args[0] if args else set()
        ctx.processed.forget((tp.topic, tp.partition) for tp in revoked)
        ctx.detection.forget(
            {tp.partition for tp in revoked if tp.topic == settings.topic_classified}
        )

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _start_over(_app: Any, *args: Any, signal: Any, **_: Any) -> None:
        # a mark made by a step still running when its partition was revoked is stale here
        assigned = args[0] if args else set()
        ctx.processed.forget((tp.topic, tp.partition) for tp in assigned)

    return app, ctx


def _register_pages(app: faust.App, ctx: WorkerContext) -> None:
    @app.page("/metrics")
    async def metrics_page(view: View, _request: Request) -> Response:
        return view.bytes(ctx.metrics.exposition(), content_type="text/plain; version=0.0.4")

    @app.page("/health")
    async def health(view: View, _request: Request) -> Response:
        return view.json({"status": "ok", "uptime_seconds": time.time() - ctx.started_at})

    @app.page("/ready")
    async def ready(view: View, _request: Request) -> Response:
        ready = is_ready(app)
        return view.json({"ready": ready}, status=200 if ready else 503)
