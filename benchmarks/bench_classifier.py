"""Classifier throughput and held-out accuracy, side by side with a plain TF-IDF LR and VADER.

    python benchmarks/bench_classifier.py [--data-dir D] [--model M] [--n 40000] [--repeat 3]

All three are scored on the same held-out dev sets (see models/training.py): English
tweeteval-val + sentiment140-test (corpora none of them trained on), Hebrew OnlpLab dev, Arabic
ASTD 20% hash split. The TF-IDF baseline (char_wb 2-5 + word 1-2, LogisticRegression) is trained
here on the same training sets as the committed model. Throughput = texts/s of batch prediction
in this one process (emberwatch with its default threads and on one thread), over English
training tweets (typical tweet length), after a warm-up; the runs take turns for ``--repeat``
rounds and the best round of each is printed with its ratio to the TF-IDF baseline (on a shared
machine single passes vary by 2x).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from models import MentionClassifier
from models.classifier import DEFAULT_ARTIFACT_DIR
from models.data import EN_DEV_SOURCES, load_corpora
from models.metrics import score_table
from pipeline.settings import Settings


def _throughput(fn: Callable[[Sequence[str]], object], texts: Sequence[str], batch: int) -> float:
    fn(texts[:batch])
    t = time.perf_counter()
    for i in range(0, len(texts), batch):
        fn(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - t)


def _tfidf() -> Pipeline:
    return Pipeline(
        [
            (
                "tfidf",
                FeatureUnion(
                    [
                        (
                            "char",
                            TfidfVectorizer(
                                analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2
                            ),
                        ),
                        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)),
                    ]
                ),
            ),
            ("lr", LogisticRegression(C=4.0, max_iter=300, class_weight="balanced")),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Settings().data_dir)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--n", type=int, default=40_000, help="texts for the throughput runs")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument(
        "--repeat", type=int, default=3, help="interleaved throughput rounds (best is printed)"
    )
    args = parser.parse_args()

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clf = MentionClassifier.load(args.model)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c = load_corpora(args.data_dir)
    en_train = [e for e in c.en if e.source not in EN_DEV_SOURCES]
    dev = {
        "en": [e for e in c.en if e.source in EN_DEV_SOURCES],
        "he": c.he_dev,
        "ar": c.ar_dev,
    }
    train = {"en": en_train, "he": c.he_train, "ar": c.ar_train}
    bench_texts = [e.text for e in en_train]
    bench_texts = (bench_texts * (args.n // len(bench_texts) + 1))[: args.n]

    rows: list[tuple[str, str, dict[str, float] | None, float | None]] = []
    # ours
    for lang, ex in dev.items():
        preds = clf.predict([e.text for e in ex], [lang] * len(ex))
        m = score_table([e.label for e in ex], [p.label for p in preds], n_boot=200)
        rows.append(("emberwatch", lang, m, None))
    runs: dict[str, tuple[Callable[[Sequence[str]], object], Sequence[str]]] = {
        "emberwatch": (clf.predict, bench_texts),
        "  on 1 thread": (clf.with_threads(1).predict, bench_texts),
    }

    # plain TF-IDF
    tfidf_models = {}
    for lang, ex in train.items():
        tfidf_models[lang] = _tfidf().fit([e.text for e in ex], [e.label for e in ex])
        d = dev[lang]
        pred = tfidf_models[lang].predict([e.text for e in d])
        rows.append(
            (
                "tfidf char2-5+word1-2 LR",
                lang,
                score_table([e.label for e in d], list(pred), n_boot=200),
                None,
            )
        )
    runs["tfidf LR"] = (tfidf_models["en"].predict, bench_texts[: args.n // 4])

    # VADER (English only)
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        rows.append(("vader", "en", None, None))
    else:
        sia = SentimentIntensityAnalyzer()

        def vader_labels(texts: Sequence[str]) -> list[str]:
            out = []
            for t in texts:
                s = sia.polarity_scores(t)["compound"]
                out.append("positive" if s >= 0.05 else "negative" if s <= -0.05 else "neutral")
            return out

        d = dev["en"]
        rows.append(
            (
                "vader (compound ±0.05)",
                "en",
                score_table([e.label for e in d], vader_labels([e.text for e in d]), n_boot=200),
                None,
            )
        )
        runs["vader"] = (vader_labels, bench_texts[: args.n // 8])

    # The machine is shared: the models take turns, round after round, and each keeps its best
    # round, so a burst of load hits all of them rather than one.
    tps = dict.fromkeys(runs, 0.0)
    for _ in range(args.repeat):
        for name, (fn, texts) in runs.items():
            tps[name] = max(tps[name], _throughput(fn, texts, args.batch))

    print(f"{'model':28} {'lang':4} {'n':>5} {'macro-F1 [95% CI]':>22} {'neg-F1':>7} {'acc':>6}")
    for name, lang, m, _ in rows:
        if m is None:
            print(f"{name:28} {lang:4}  (not installed)")
            continue
        ci = f"{m['macro_f1']:.3f} [{m['macro_f1_ci_low']:.3f},{m['macro_f1_ci_high']:.3f}]"
        print(
            f"{name:28} {lang:4} {int(m['n']):>5} {ci:>22} {m['negative_f1']:>7.3f} "
            f"{m['accuracy']:>6.3f}"
        )
    print()
    print(
        f"throughput (texts/s, batch {args.batch}, 1 process, {os.cpu_count()} cpus, "
        f"best of {args.repeat} interleaved rounds, load {os.getloadavg()[0]:.1f}):"
    )
    gain = tps["emberwatch"] / tps["  on 1 thread"]
    notes = {
        "emberwatch": f"({clf.threads} threads; language detection + categories included)",
        "  on 1 thread": f"({gain:.2f}x faster on {clf.threads})",
    }
    for name, value in tps.items():
        ratio = value / tps["tfidf LR"]
        print(f"  {name:14} {value:>9,.0f}   {ratio:4.1f}x tfidf   {notes.get(name, '')}".rstrip())
    size = sum(p.stat().st_size for p in (args.model or DEFAULT_ARTIFACT_DIR).iterdir())
    print(
        f"model on disk: {size / 2**20:.1f} MiB; resident memory after load: "
        f"{rss1 / 1024:.0f} MiB (load added {(rss1 - rss0) / 1024:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
