"""Render ``MODEL_CARD.md`` from a training manifest, so the card always matches the artifact."""

from __future__ import annotations

from typing import Any

DATASETS = [
    (
        "airline-tweets",
        "en",
        "Twitter US Airline Sentiment (CrowdFlower/Kaggle), Feb 2015",
        "none in repo; Kaggle mirror card says CC BY-NC-SA 4.0 (non-commercial) — treated as such",
        "train (sentiment + learned categories)",
    ),
    (
        "apple-twitter-sentiment-dfe",
        "en",
        "Apple Twitter Sentiment (CrowdFlower DFE), Dec 2014",
        "MIT (DataForScience/NLP repo); upstream CrowdFlower terms not verified",
        "train",
    ),
    (
        "sanders-brand-tweets",
        "en",
        "Sanders Twitter corpus (apple/google/microsoft/twitter), Oct 2011",
        "none stated; research use",
        "train",
    ),
    (
        "sxsw-brand-emotion",
        "en",
        "Brands and Product Emotions, SXSW 2011 (CrowdFlower DFE)",
        "none stated; CrowdFlower Data for Everyone",
        "train",
    ),
    (
        "tweeteval (emotion)",
        "en",
        "TweetEval emotion, train/val/test splits (SemEval-2018 Affect in Tweets)",
        "released without restrictions; per-task/Twitter terms apply",
        "train (sentiment only)",
    ),
    (
        "tweeteval (sentiment val)",
        "en",
        "TweetEval sentiment validation split (SemEval-2017 4A)",
        "released without restrictions; per-task/Twitter terms apply",
        "dev only",
    ),
    (
        "sentiment140-test",
        "en",
        "Sentiment140 hand-labelled test set, 2009",
        "none; cite Sentiment140",
        "dev only",
    ),
    (
        "hebrew-sentiment-onlp",
        "he",
        "Hebrew Sentiment (Amram et al. 2018), OnlpLab de-duplicated, token split",
        "MIT (original OMIlab repo / HF card)",
        "train split: train; dev split: dev",
    ),
    (
        "astd-arabic",
        "ar",
        "ASTD Arabic Sentiment Tweets (Nabil et al. 2015), train part",
        "GPL-2.0 (repository licence, data included)",
        "80% train / 20% dev (text-hash split)",
    ),
]

_HARMONISATION = """\
| corpus | negative | neutral | positive | dropped |
|---|---|---|---|---|
| airline-tweets | negative | neutral | positive | — |
| apple-twitter-sentiment-dfe | 1 | 3 | 5 | not_relevant |
| sanders-brand-tweets | negative | neutral | positive | irrelevant |
| sxsw-brand-emotion | Negative emotion | No emotion toward brand | Positive emotion | can't tell |
| sentiment140-test | 0 | 2 | 4 | — |
| tweeteval sentiment | 0 | 1 | 2 | — |
| tweeteval emotion | 0 anger, 3 sadness | — | 1 joy, 2 optimism | — |
| hebrew-sentiment-onlp | 1 | 2 (off-topic) | 0 | — |
| astd-arabic | NEG | OBJ, NEUTRAL | POS | — |

Airline `negativereason` -> learned crisis categories: Customer Service Issue, Lost Luggage,
Damaged Luggage, longlines -> `customer_service`; Late Flight, Cancelled Flight -> `service_outage`;
Flight Booking Problems -> `billing`; Flight Attendant Complaints -> `staff_misconduct`; Bad Flight
and Can't Tell -> no category. All other categories (and all Hebrew/Arabic categories) come from the
curated lexicons in `models/lexicons/{en,he,ar}.json`. `public_backlash` (boycotts, outrage,
apologies, scandal coverage) is lexicon-only: news-style reports of a scandal often read as
neutral, and this category names them in the alert evidence. Its terms hit 1-31% of the
Scandalist crisis tweets and under 1% of the English brand corpora (airline 0.8%). The detector
gives it weight 0 by default (evidence only; see `pipeline/core/config.py`).

The learned category model weights each class by the square root of its balanced weight (`none`
at 1): unweighted, billing and staff misconduct (3% of the texts each) rarely reached a
probability of 0.5. Held out on the airline tweets (5 folds, `benchmarks/bench_categories.py`),
precision / recall / F1 of the categories as classified (learned model or lexicon):

| category | n | unweighted (previous artifact) | tempered weights (this artifact) |
|---|---|---|---|
| service_outage | 2512 | 0.71 / 0.62 / 0.66 | 0.67 / 0.69 / 0.68 |
| customer_service | 3886 | 0.72 / 0.61 / 0.66 | 0.68 / 0.67 / 0.68 |
| billing | 529 | 0.22 / 0.12 / 0.16 | 0.30 / 0.34 / 0.32 |
| staff_misconduct | 481 | 0.42 / 0.15 / 0.22 | 0.42 / 0.33 / 0.37 |
| all four (micro) | 7408 | 0.66 / 0.55 / 0.60 | 0.62 / 0.63 / 0.63 |

Precision is a lower bound (one labelled reason per tweet). The cost: 4.1% of the English dev
texts people labelled neutral or positive get a category (2.1% before; fully balanced weights:
8.0%); 15.3% of the negative ones (8.4%). The other categories come from the lexicons alone;
the benchmark also prints how often they fire on Hebrew and Arabic dev texts and on real
scandals' tweets."""

# Measured with benchmarks/bench_classifier.py; update when the model or the code changes.
PERFORMANCE_NUMBERS = """\
Held-out dev sets, same split for all three (`benchmarks/bench_classifier.py --repeat 5`, run
2026-11-27 on this artifact and code; TF-IDF and VADER rows from the run before, the same within
0.001 in this one):

| model | en macro-F1 / neg-F1 | he macro-F1 / neg-F1 | ar macro-F1 / neg-F1 |
|---|---|---|---|
| emberwatch (this artifact: retrained, see below) | 0.615 / 0.594 | 0.691 / 0.767 | 0.541 / 0.482 |
| previous artifact (8947455: + ar prefix stems) | 0.608 / 0.580 | 0.691 / 0.767 | 0.545 / 0.479 |
| previous artifact (bb25327: + he/ar lexicons) | 0.608 / 0.580 | 0.690 / 0.767 | 0.544 / 0.469 |
| previous artifact (236b032: + emotion tweets) | 0.608 / 0.580 | 0.694 / 0.767 | 0.536 / 0.478 |
| previous artifact (44bb7ef: no emotion tweets) | 0.586 / 0.567 | 0.694 / 0.767 | 0.536 / 0.478 |
| older artifact (77d76ce: no lexicon) | 0.546 / 0.472 | 0.694 / 0.767 | 0.536 / 0.478 |
| TF-IDF char_wb 2-5 + word 1-2, LR (same data) | 0.492 / 0.491 | 0.682 / 0.782 | 0.537 / 0.475 |
| VADER (compound +-0.05), en only | 0.595 / 0.599 | - | - |

This artifact is what `python -m models train` gives from the current code: two retrains on
2026-11-27 wrote bit-identical files. The artifact before it (8947455) was not: its English
weights came from an earlier training run and a retrain with that day's code did not give them back
(their intercepts differ by up to 0.19), so it is replaced. The retrained English model reads
tweeteval-val at 0.572 / 0.519 (was 0.564 / 0.504); Hebrew is unchanged; Arabic moves within
the +-0.02 that the class-bias tuning alone moves that split (negative-F1 0.479 -> 0.482, macro-F1
0.545 -> 0.541). The learned category model now weights its classes (see Label harmonisation).
On the crisis-scenario benchmark (4 seeds) this artifact finds 56 of 64 crises against 57: seed 1's
slow-building c05-google crisis, caught at 49 minutes before, is now late (160 minutes), because
the retrained model reads fewer of its texts as negative; false alarms 11 -> 13 (0.013 -> 0.015 per
brand-day).

The Hebrew and Arabic polarity lexicons were chosen on a paired 5-fold cross-validation over
train + dev (same folds with and without them; pooled macro-F1 / negative-F1): Hebrew 0.664 /
0.773 -> 0.666 / 0.782; Arabic 0.548 / 0.472 -> 0.555 / 0.482; negative-F1 higher in 4 of 5
folds for each. On the fixed dev splits above Hebrew reads the same and Arabic negative-F1
0.009 lower; the class-bias tuning alone moves these splits by about +-0.02.

The Arabic prefix stems (a word with و ف ب ل ك ال لل attached also counts as its stem) were
chosen on the same paired folds: 0.555 / 0.482 -> 0.556 / 0.488, negative-F1 higher in 4 of 5
folds; the fixed dev split reads 0.544 / 0.469 -> 0.545 / 0.479 and the training's own 3-fold CV
is flat (negative-F1 per fold 0.471, 0.495, 0.442 -> 0.474, 0.492, 0.443). A small gain, kept
because it is on the metric the target names and the hidden Arabic set is another corpus, where
clitic variation matters more. Hebrew single-letter stems were mixed on the same CV (macro-F1
0.666 -> 0.664, negative-F1 0.782 -> 0.785, one fold -0.028 macro-F1) and are not used.

English, read at another class prior: tweeteval-val is 16% negative, while TweetEval's sentiment
test split is 32% negative, 48% neutral, 19% positive. Per-class recall does not depend on the
prior, so reweighting the tweeteval-val confusion matrix to those shares estimates a test-like
set: this model 0.602 / 0.669 (the previous artifact 0.589 / 0.650; VADER 0.547 / 0.664; the
TF-IDF LR 0.455 / 0.599).

Throughput is batch prediction (4,096 texts per call) in one process on English tweets,
including language detection, normalisation, lexicon and learned categories; the models take
turns for 5 rounds and the best round of each counts (single passes vary 2x on the shared
machine). A call over 1,024 texts is cut into pieces classified on the classifier's threads
(default: the machine's cores, at most 4; predictions are identical for any count). Latest run
(this artifact, 2026-11-27, load average 1.3): 35,012 texts/s on 2 threads and 27,146 on one
(6.0x and 4.7x the TF-IDF LR's 5,789; VADER 14,799). Earlier that day, at load average 1.3 on
the 2 cores: emberwatch 25,136 texts/s on 2 threads and 21,223
on one (6.2x and 5.2x the TF-IDF LR's 4,045; VADER 13,835); a second run 24,409 and 22,908 (6.2x
and 5.8x of 3,951). Target >= 20,000/s: met on 2 threads in both runs; on one thread in 4 of 5
runs that day. The normaliser's punctuation, hashtag and negation passes were rewritten that day
(identical output on 53,141 corpus texts; the normaliser alone 1.19x, best of 6 interleaved
passes); the other one-thread runs that day measured 22,154, 20,164 and 19,903 (5.4x, 4.6x,
5.6x), the previous code 19,309 (5.3x) and 20,841 (5.8x). Single figures move with the machine's
other jobs; read the ratios. The Hebrew and Arabic lexicons do not slow those models (sentiment
pipeline alone, best of 5 interleaved: he 0.98x, ar 1.02x); the Arabic stems cost 4% (0.96x).
Artifact on disk: 16.6 MiB (target <= 50 MB). Resident memory after loading: 226 MiB, of which
the model adds ~93 MiB (target <= 300 MB); peak while classifying 4,096-text batches: 255 MiB on
2 threads (1,024-text pieces), 289 MiB on one."""

PERFORMANCE = """\
Measured with `python benchmarks/bench_classifier.py` on the 2-core development machine (shared
with other jobs, so throughput varies by ±30% between runs); see the benchmark's docstring.

{performance}"""


# Issue #3 targets on held-out data: (dev set, metric, target)
TARGETS = [
    ("en (tweeteval-val + sentiment140-test)", "macro_f1", 0.65),
    ("en (tweeteval-val + sentiment140-test)", "negative_f1", 0.68),
    ("en/tweeteval-sentiment-val", "macro_f1", 0.65),
    ("en/tweeteval-sentiment-val", "negative_f1", 0.68),
    ("he (onlp dev)", "macro_f1", 0.75),
    ("he (onlp dev)", "negative_f1", 0.80),
    ("ar (astd 20% hash split)", "negative_f1", 0.55),
]


def _targets(dev: dict[str, dict[str, float]]) -> list[str]:
    lines = [
        "| dev set | metric | target | achieved | 95% CI | status |",
        "|---|---|---|---|---|---|",
    ]
    for name, metric, target in TARGETS:
        m = dev.get(name)
        if m is None:
            continue
        ci = f"[{m[metric + '_ci_low']:.3f}, {m[metric + '_ci_high']:.3f}]"
        status = "met" if m[metric] >= target else "missed"
        lines.append(f"| {name} | {metric} | {target:.2f} | {m[metric]:.3f} | {ci} | {status} |")
    return lines


def _lexicon_lines(per_language: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for lang, params in sorted(per_language.items()):
        if "char_orders" in params:
            lines.append(f"{lang}: character n-gram orders {params['char_orders']} instead.")
        if params.get("polarity_lexicon") == "vader":
            lines += [
                f"{lang}: six polarity-lexicon columns after the n-grams (weight",
                f"{params.get('lexicon_weight', 1.0)}: summed positive and negative valence,",
                "squashed total, capped hit counts, no-hit flag) from the VADER lexicon (Hutto &",
                "Gilbert 2014, MIT licence, package `vaderSentiment` 3.3.2), negated words at",
                "-0.74 x valence. The word table is stored inside the fitted hasher: the package",
                "is needed for training only. Training corpora weighted equally, classes balanced",
                "within each corpus.",
            ]
        elif params.get("polarity_lexicon"):
            lines += [
                f"{lang}: six polarity-lexicon columns as for en (weight",
                f"{params.get('lexicon_weight', 1.0)}) from the curated word list",
                f"`models/lexicons/polarity/{params['polarity_lexicon']}.json` (VADER's -4..+4",
                "scale; words also match with attached prefixes, negated words reverse).",
            ]
        if params.get("stem_prefixes"):
            lines += [
                f"{lang}: a word that starts with one of the prefixes "
                f"`STEM_PREFIXES[{params['stem_prefixes']!r}]`",
                "(`models/normalize.py`) and keeps three letters without it also counts as that",
                "stem (one more hashed word feature), so clitic forms share a column.",
            ]
    return lines


def _row(name: str, m: dict[str, float]) -> str:
    return (
        f"| {name} | {int(m['n'])} | {m['macro_f1']:.3f} "
        f"[{m['macro_f1_ci_low']:.3f}, {m['macro_f1_ci_high']:.3f}] | {m['negative_f1']:.3f} "
        f"[{m['negative_f1_ci_low']:.3f}, {m['negative_f1_ci_high']:.3f}] | {m['accuracy']:.3f} "
        f"| {m.get('brier_negative', float('nan')):.3f} |"
    )


def render(manifest: dict[str, Any], performance: str) -> str:
    dev = manifest["metrics"]["dev"]
    cv = manifest["metrics"].get("cross_validation", {})
    v = manifest["versions"]
    lines = [
        "# Model card: emberwatch mention classifier",
        "",
        "Generated by `python -m models train` from `models/artifacts/manifest.json`; do not edit",
        "by hand (edit `models/card.py`).",
        "",
        "## What it does",
        "",
        "For every mention: language (`en`/`he`/`ar`/`other`, script-aware), sentiment",
        "(`negative`/`neutral`/`positive`) with a calibrated P(negative), and crisis categories",
        "with",
        "scores (learned from airline complaint reasons for English; curated lexicons for English,",
        "Hebrew and Arabic, extensible per brand with `MentionClassifier.with_extra_terms`).",
        "Intended use: early-warning aggregation over many mentions of a brand. Not intended for",
        "decisions about individual authors. `other` languages are scored by the English model",
        "(character n-grams carry some signal) and should be treated as low-confidence.",
        "The figures below are for public corpora; a brand's own mentions can read differently.",
        "Measure on a labelled sample of them with `emberwatch evaluate --labelled FILE` (per",
        "language, with confidence intervals and per-category scores; see the README).",
        "",
        "## Pipelines (one scikit-learn Pipeline per model, joblib)",
        "",
        "| file | steps | trained on |",
        "|---|---|---|",
    ]
    sizes = manifest.get("train_sizes", {})
    for name, meta in manifest["files"].items():
        lang = name.split("-")[-1]
        clf = (
            "LogisticRegression (multinomial, crisis category or none, tempered class weights)"
            if name.startswith("categories")
            else "CalibratedLinear (LR + LOSO/CV class-bias + Platt P(negative))"
        )
        lines.append(
            f"| `{meta['file']}` | Normalizer -> NgramHasher -> {clf} "
            f"| {sizes.get(lang, '?')} texts |"
        )
    h = manifest["hasher"]
    lines += [
        "",
        f"Features: hashed character n-grams of orders {h['char_orders']} and word n-grams",
        f"of orders {h['word_orders']} into 2**{h['n_bits']} columns, IDF-weighted for",
        f"{', '.join(h.get('idf_langs', [])) or 'no language'}, rows scaled to unit norm.",
        *_lexicon_lines(h.get("per_language", {})),
        "Normalisation: URLs/@handles to tokens, hashtags split (camelCase), elongations cut and",
        "flagged, emoji and",
        "emoticons to polarity tokens, negation scope marking (en/he/ar), Hebrew niqqud and final",
        "letters, Arabic diacritics, tatweel and letter variants.",
        "",
        "## Data sets and licences",
        "",
        "Read from `Settings.data_dir` (`EMBERWATCH_DATA_DIR`, default `../shared/data`); never",
        "copied into the repository. Licences as recorded in each data set's SOURCE.md.",
        "",
        "| data set | lang | what | licence (as found) | use |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in DATASETS]
    lines += [
        "",
        "Because airline-tweets is treated as CC BY-NC-SA 4.0 and ASTD as GPL-2.0, check these",
        "terms before commercial use of the artifact (retrain without them if needed).",
        "",
        "## Label harmonisation",
        "",
        _HARMONISATION,
        "",
        "## Evaluation protocol",
        "",
        "No model is scored on a corpus it was trained on. English: the committed model is trained",
        "on airline, apple, sanders and sxsw tweets and the TweetEval emotion tweets (2018;",
        "no text shared with the dev set) and scored on tweeteval-val + sentiment140-test",
        "(other corpora, years and topics). Hebrew: OnlpLab train -> dev. Arabic: single source, a",
        "deterministic 20% text-hash split (duplicates stay on one side). 95% confidence",
        "intervals:",
        "percentile bootstrap over texts (500 resamples). Macro-F1 is over the three classes;",
        "negative-F1 is negative vs rest. Brier = mean squared error of P(negative).",
        "",
        "### Held-out dev sets (committed model; pinned by tests/unit/test_models_classifier.py)",
        "",
        "| data set | n | macro-F1 [95% CI] | negative-F1 [95% CI] | accuracy | Brier |",
        "|---|---|---|---|---|---|",
    ]
    lines += [_row(name, m) for name, m in dev.items()]
    lines += [
        "",
        "### Targets (issue #3)",
        "",
        "The targets are for held-out tweets outside `../shared/data`. For English the closest",
        "proxy here is tweeteval-val alone (the same SemEval task as TweetEval's test split); the",
        "combined row also counts sentiment140, which is easier. See Performance below for an",
        "estimate at the test split's class prior.",
        "",
        *_targets(dev),
    ]
    if cv:
        lines += [
            "",
            "### Cross-validation inside training",
            "",
            "English: leave one source out (train on the other corpora, score this one; the",
            "emotion corpus has no neutral class, so it is always trained on and never scored);",
            "Hebrew and Arabic: stratified 3-fold. The class-bias offsets are tuned on these same",
            "held-out scores (two parameters), so these numbers are slightly optimistic.",
            "",
            "| model | fold | n | macro-F1 | negative-F1 |",
            "|---|---|---|---|---|",
        ]
        for lang, folds in cv.items():
            for fold, m in folds.items():
                lines.append(
                    f"| {lang} | {fold} | {m['n']} | {m['macro_f1']:.3f} | {m['negative_f1']:.3f} |"
                )
    lines += [
        "",
        "## Performance",
        "",
        PERFORMANCE.format(performance=performance),
        "",
        "## Reproduction",
        "",
        f"- command: `{manifest['train_command']}` (or `emberwatch train`, `make model`)",
        f"- training time: {manifest['train_seconds']} s (all pipelines, 2-core machine)",
        f"- trained at: {manifest['trained_at']}",
        f"- Python {v['python']}, scikit-learn {v['scikit-learn']}, numpy {v['numpy']}, "
        f"scipy {v['scipy']}, joblib {v['joblib']}",
        f"- artifact format version {manifest['format_version']}; `MentionClassifier.load` refuses",
        "  another format version or scikit-learn version (ModelError) and checks file hashes.",
        "- Only load artifacts you trust: joblib files are pickles.",
        "",
    ]
    return "\n".join(lines)
