"""The ``emberwatch`` command line: the worker, the tools and the demo.

Output meant for the user goes to stdout; diagnostics go through ``logging`` to stderr.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError

from pipeline.errors import ConfigError, EmberwatchError
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.core.detector import AlertEvent
    from pipeline.scorecard import Incident, Scorecard

logger = logging.getLogger("emberwatch")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("kafka", "aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _bootstrap(settings: Settings, stack: ExitStack) -> str:
    """Configured servers, or the embedded broker (stopped on exit if this call started it)."""
    from pipeline.broker import embedded_broker

    return stack.enter_context(embedded_broker(settings))


DEAD_LETTER_MAX_BYTES = 4 * 1024 * 1024


def ensure_topics(settings: Settings, bootstrap: str) -> None:
    from pipeline.broker import create_topics
    from pipeline.security import check_sasl, check_tls, kafka_python_config

    check_tls(settings, bootstrap)
    check_sasl(settings, bootstrap)
    create_topics(
        bootstrap,
        [settings.topic_raw, settings.topic_classified, settings.topic_alerts],
        partitions=settings.topic_partitions,
        replication=settings.topic_replication,
        client_config=kafka_python_config(settings),
    )
    # A dead letter carries the original bytes (base64 and text): room for the largest raw message.
    create_topics(
        bootstrap,
        [settings.topic_dead_letter],
        partitions=settings.topic_partitions,
        replication=settings.topic_replication,
        configs={"max.message.bytes": str(DEAD_LETTER_MAX_BYTES)},
        client_config=kafka_python_config(settings),
    )


def _load_classifier(settings: Settings, model: Path | None = None):  # type: ignore[no-untyped-def]
    from models import MentionClassifier

    return MentionClassifier.load(model or settings.model_path, settings.classifier_threads)


# --- commands -------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    import faust

    from pipeline.app import build_app
    from pipeline.tools import topic_partition_count

    with ExitStack() as stack:
        bootstrap = _bootstrap(settings, stack)
        ensure_topics(settings, bootstrap)
        classifier = _load_classifier(settings)
        raw_partitions = topic_partition_count(settings, bootstrap, settings.topic_raw)
        classified_partitions = topic_partition_count(
            settings, bootstrap, settings.topic_classified
        )
        app, ctx = build_app(settings, bootstrap, classifier, raw_partitions, classified_partitions)
        logger.info(
            "worker %s on %s: %s -> %s, alerts on %s, metrics at http://%s:%d/metrics",
            settings.app_id,
            bootstrap,
            settings.topic_raw,
            settings.topic_classified,
            settings.topic_alerts,
            settings.web_host,
            settings.web_port,
        )
        worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
        worker.spinner = None  # a terminal spinner only garbles logs
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            return int(exc.code or 0)
        del ctx
    return 0


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.broker import LocalBroker, ensure_jars, sweep_orphans

    broker = LocalBroker.from_settings(settings)
    if args.action == "start":
        bootstrap = broker.start(detached=True)
        print(f"broker running at {bootstrap} (data in {broker.status().data_dir})")
        print(f"use it from other shells with: export EMBERWATCH_BOOTSTRAP_SERVERS={bootstrap}")
    elif args.action == "stop":
        broker.stop()
        print("broker stopped")
    elif args.action == "sweep":
        stopped = sweep_orphans()
        pids = f": pids {stopped}" if stopped else ""
        print(f"stopped {len(stopped)} orphaned broker(s){pids}")
    elif args.action == "fetch":
        libs = ensure_jars(settings.kafka_libs_dir, settings.kafka_pom)
        print(f"Kafka jars in {libs}")
    else:
        status = broker.status()
        if status.running:
            print(f"running  pid {status.pid}  {status.bootstrap}  data {status.data_dir}")
        else:
            print(f"stopped  data {status.data_dir}")
            return 3
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.tools import replay

    with ExitStack() as stack:
        bootstrap = _bootstrap(settings, stack)
        ensure_topics(settings, bootstrap)
        speed = None if args.max or args.speed is None else args.speed
        summary = replay(args.file, settings, bootstrap, speed=speed)
    print(
        f"sent {summary.sent} mentions to {settings.topic_raw} in {summary.seconds:.1f}s"
        + (
            f" ({summary.undated} without a usable created_at, sent last)"
            if summary.undated
            else ""
        )
    )
    return 0


def _read_incidents(path: Path) -> list[Incident]:
    from pipeline.scorecard import parse_incidents

    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return parse_incidents(handle, str(path))
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read incidents file {path}: {exc}"
        raise ConfigError(msg) from exc


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.backtest import detect_mentions, run_backtest
    from pipeline.catalog import BrandCatalog
    from pipeline.core.detector import DetectorConfig
    from pipeline.scorecard import (
        DEFAULT_DETECT_WITHIN_SECONDS,
        DEFAULT_GRACE_SECONDS,
        alarms_by_brand,
        format_scorecard,
        format_sweep,
        score_incidents,
    )

    needs_incidents = [
        flag
        for flag, given in (
            ("--report-out", args.report_out is not None),
            ("--detect-within", args.detect_within is not None),
            ("--grace", args.grace is not None),
            ("--sweep", args.sweep is not None),
        )
        if given
    ]
    if args.incidents is None and needs_incidents:
        verb = "needs" if len(needs_incidents) == 1 else "need"
        msg = f"{', '.join(needs_incidents)} {verb} --incidents"
        raise ConfigError(msg)
    overrides: dict[str, Any] = dict(args.set)
    sweep_key, sweep_values = args.sweep or ("", [])
    # Check everything that can be wrong before the replay, which can take long.
    for trial in [{**overrides, sweep_key: v} for v in sweep_values] or [overrides]:
        DetectorConfig.from_mapping(DetectorConfig(), trial)
    incidents = _read_incidents(args.incidents) if args.incidents else None
    catalog = BrandCatalog.load(args.brands, strict=settings.catalog_strict)
    classifier = _load_classifier(settings, args.model)
    with ExitStack() as stack:
        out = stack.enter_context(args.alerts_out.open("wb"))
        dead = (
            stack.enter_context(args.dead_letters_out.open("wb")) if args.dead_letters_out else None
        )
        summary = run_backtest(args.input, settings, catalog, classifier, out, dead, overrides)
    dead_total = sum(summary.dead_lettered.values())
    print(
        f"{summary.lines} lines: {summary.classified} classified, {summary.unmatched} unmatched, "
        f"{dead_total} dead-lettered {dict(sorted(summary.dead_lettered.items()))}"
    )
    if overrides:
        print(f"detector settings changed for every brand: {_settings_text(overrides)}")
    print(f"{len(summary.alerts)} alert events written to {args.alerts_out}")
    for alert in summary.alerts:
        print(
            f"  {alert.event_time}  {alert.severity:8} {alert.status:9} {alert.brand}  "
            f"score {alert.score:.0f}  [{alert.alert_id}]"
        )
    if incidents is None:
        return 0
    within = (
        DEFAULT_DETECT_WITHIN_SECONDS / 60 if args.detect_within is None else args.detect_within
    )
    grace = DEFAULT_GRACE_SECONDS / 60 if args.grace is None else args.grace

    def scored(alerts: Sequence[AlertEvent]) -> Scorecard:
        return score_incidents(
            alarms_by_brand(alerts),
            incidents,
            summary.brand_spans,
            detect_within=within * 60,
            grace=grace * 60,
        )

    card = scored(summary.alerts)
    print()
    print(format_scorecard(card))
    report = card.to_dict()
    if sweep_values:
        runs = []
        for value in sweep_values:
            trial = {**overrides, sweep_key: value}
            alerts = detect_mentions(summary.mentions, settings, catalog, trial)
            runs.append((value, scored(alerts)))
        print()
        print(format_sweep(sweep_key, runs))
        report["sweep"] = {
            "setting": sweep_key,
            "runs": [{"value": v, "summary": c.to_dict()["summary"]} for v, c in runs],
        }
    if overrides:
        report["settings"] = overrides
    if args.report_out:
        data = orjson.dumps(report, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
        try:
            args.report_out.write_bytes(data + b"\n")
        except OSError as exc:
            msg = f"cannot write report {args.report_out}: {exc}"
            raise ConfigError(msg) from exc
        print(f"report written to {args.report_out}")
    return 0


def _settings_text(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k}={orjson.dumps(v).decode()}" for k, v in sorted(settings.items()))


def _setting_value(raw: str) -> Any:
    """A JSON value (number, true/false, object), else the text itself (e.g. a time zone)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def _setting(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or not raw.strip():
        msg = f"expected KEY=VALUE, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return key.strip(), _setting_value(raw.strip())


def _sweep(text: str) -> tuple[str, list[Any]]:
    key, sep, raw = text.partition("=")
    values = [v.strip() for v in raw.split(",")]
    if not sep or not key.strip() or not all(values):
        msg = f"expected KEY=VALUE,VALUE,..., got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return key.strip(), [_setting_value(v) for v in values]


def cmd_classify(args: argparse.Namespace, settings: Settings) -> int:
    from models.cli import run_classify

    with ExitStack() as stack:
        source = stack.enter_context(args.input.open(encoding="utf-8")) if args.input else sys.stdin
        sink = (
            stack.enter_context(args.output.open("w", encoding="utf-8"))
            if args.output
            else sys.stdout
        )
        return run_classify(source, sink, args.model or settings.model_path)


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.tools import consume, format_alert

    with ExitStack() as stack:
        bootstrap = _bootstrap(settings, stack)
        ensure_topics(settings, bootstrap)
        try:
            for value in consume(
                settings,
                bootstrap,
                settings.topic_alerts,
                from_beginning=args.from_beginning,
                timeout=args.timeout,
                max_messages=args.max_messages,
            ):
                if args.json:
                    print(value.decode("utf-8", "replace"), flush=True)
                    continue
                try:
                    print(format_alert(orjson.loads(value)), flush=True)
                except orjson.JSONDecodeError:
                    print(f"(not JSON) {value[:200]!r}", flush=True)
        except KeyboardInterrupt:
            pass
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.demo import run_demo

    return run_demo(settings, keep_running=args.keep_running)


def cmd_series(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.series import run_series

    return run_series(args.input, args.out)


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from models.cli import run_train

    return run_train(args.data_dir or settings.data_dir, args.out_dir)


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from models.cli import run_evaluate
    from pipeline.catalog import BrandCatalog

    extra_terms = None
    if args.brand is not None:
        if args.brands is None or args.labelled is None:
            msg = "--brand needs --brands and --labelled"
            raise ConfigError(msg)
        catalog = BrandCatalog.load(args.brands, strict=settings.catalog_strict)
        if args.brand not in catalog:
            msg = f"brand {args.brand!r} is not in {args.brands}"
            raise ConfigError(msg)
        extra_terms = catalog.brands[args.brand].lexicon
    return run_evaluate(
        args.data_dir or settings.data_dir,
        args.model or settings.model_path,
        args.labelled,
        as_json=args.json,
        extra_terms=extra_terms,
    )


def cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    with ExitStack() as stack:
        bootstrap = _bootstrap(settings, stack)
        ensure_topics(settings, bootstrap)
    print(
        "topics ready:",
        settings.topic_raw,
        settings.topic_dead_letter,
        settings.topic_classified,
        settings.topic_alerts,
    )
    return 0


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        msg = f"expected minutes (a number >= 0), got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emberwatch",
        description="Early warning for social-media crises. With no EMBERWATCH_BOOTSTRAP_SERVERS, "
        "commands that need Kafka start a local single-node broker themselves.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the worker (ingest + detect agents, /metrics)").set_defaults(
        func=cmd_run
    )

    broker = sub.add_parser("broker", help="manage the embedded Kafka broker")
    broker.add_argument("action", choices=["start", "stop", "status", "fetch", "sweep"])
    broker.set_defaults(func=cmd_broker)

    replay = sub.add_parser("replay", help="produce a JSONL file's mentions in event-time order")
    replay.add_argument("file", type=Path)
    pace = replay.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, help="replay N times faster than real time")
    pace.add_argument("--max", action="store_true", help="as fast as possible (the default)")
    replay.set_defaults(func=cmd_replay)

    backtest = sub.add_parser("backtest", help="run the detector offline over a JSONL file")
    backtest.add_argument("input", type=Path)
    backtest.add_argument("--brands", type=Path, required=True, help="brand catalog YAML")
    backtest.add_argument("--alerts-out", type=Path, required=True)
    backtest.add_argument("--dead-letters-out", type=Path)
    backtest.add_argument("--model", type=Path)
    backtest.add_argument(
        "--incidents",
        type=Path,
        help="CSV of known incidents (brand,onset[,peak,end]): score the alerts against them",
    )
    backtest.add_argument(
        "--detect-within",
        type=_minutes,
        metavar="MIN",
        help="an incident counts as detected when alarmed within MIN minutes of onset (60)",
    )
    backtest.add_argument(
        "--grace",
        type=_minutes,
        metavar="MIN",
        help="an alarm up to MIN minutes before an incident's onset detects it (120)",
    )
    backtest.add_argument(
        "--set",
        type=_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a detector setting for every brand (a brand's catalog overrides still win)",
    )
    backtest.add_argument(
        "--sweep",
        type=_sweep,
        metavar="KEY=V1,V2,...",
        help="with --incidents: score the same mentions once per value of one detector setting",
    )
    backtest.add_argument("--report-out", type=Path, help="write the scorecard as JSON")
    backtest.set_defaults(func=cmd_backtest)

    classify = sub.add_parser("classify", help="classify JSONL {id,text,lang?} lines")
    classify.add_argument("--input", type=Path)
    classify.add_argument("--output", type=Path)
    classify.add_argument("--model", type=Path)
    classify.set_defaults(func=cmd_classify)

    alerts = sub.add_parser("alerts", help="crisis-risk events on the alert topic")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    tail = alerts_sub.add_parser("tail", help="follow the alert topic in a readable form")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--json", action="store_true", help="print the raw JSON records")
    tail.add_argument("--timeout", type=float, help="stop after this many idle seconds")
    tail.add_argument("--max-messages", type=int)
    tail.set_defaults(func=cmd_alerts)

    demo = sub.add_parser("demo", help="the quick start: broker, worker and a sample crisis")
    demo.add_argument("--keep-running", action="store_true", help="leave broker and worker up")
    demo.set_defaults(func=cmd_demo)

    series = sub.add_parser("series", help="volume-only detection over a timestamp,value CSV")
    series.add_argument("input", type=Path)
    series.add_argument("--out", type=Path, required=True)
    series.set_defaults(func=cmd_series)

    train = sub.add_parser("train", help="train the classifier from the labelled data")
    train.add_argument("--data-dir", type=Path)
    train.add_argument(
        "--out-dir",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "models" / "artifacts",
    )
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="print the classifier's metrics")
    evaluate.add_argument("--data-dir", type=Path)
    evaluate.add_argument("--model", type=Path)
    evaluate.add_argument(
        "--labelled",
        type=Path,
        metavar="FILE",
        help='your own labelled mentions, JSON lines {"text","label","lang"?,"categories"?}',
    )
    evaluate.add_argument("--brands", type=Path, help="brand catalog YAML (with --brand)")
    evaluate.add_argument(
        "--brand", help="score categories with this catalog brand's extra terms too"
    )
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    evaluate.set_defaults(func=cmd_evaluate)

    topics = sub.add_parser("topics", help="create the configured topics if missing")
    topics.set_defaults(func=cmd_topics)
    return parser


def settings_errors(exc: ValidationError) -> str:
    """Pydantic's errors as one line per problem, named by their environment variable."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        names = [str(part) for part in error["loc"]]
        where = f"EMBERWATCH_{'_'.join(names).upper()}: " if names else ""
        problems.append(where + error["msg"].removeprefix("Value error, "))
    return "; ".join(problems)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"emberwatch: invalid settings: {settings_errors(exc)}", file=sys.stderr)
        return 2
    try:
        code: int = args.func(args, settings)
    except EmberwatchError as exc:
        print(f"emberwatch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
