"""How well the crisis categories read: the learned model and the curated lexicons, side by side.

    .venv/bin/python benchmarks/bench_categories.py [--data-dir D] [--model M] [--folds 5]

Three views, each printed as a table:

1. **Airline complaint reasons, held out.** The only category labels in ``../shared/data`` are
   the airline data's ``negativereason`` (mapped as in the model card). The learned category model
   is refitted ``--folds`` times (stratified folds of the airline tweets; the other English
   training corpora always in, as ``none``) and scored on the held-out tweets; the curated
   lexicons alone and the combination the classifier uses (a category scoring >= 0.5 on either)
   are scored on the same tweets. Precision is a lower bound: a tweet has one labelled reason but
   may be about two things.
2. **False flags.** Every category the committed classifier gives to held-out texts that people
   labelled neutral or positive, per language (English tweeteval-val + sentiment140, Hebrew OnlpLab
   dev, Arabic ASTD dev split), next to the share of negative texts that get one. A category on a
   happy or neutral mention is not always wrong ("finally got my refund, thanks!" is billing), so
   this bounds the false-alarm pressure from above.
3. **Real scandals** (scandalist-brand-scandals, no labels): for each scandal, the share of its
   top-engagement tweets with a category and the categories the scandal is about (read from its
   dates and texts, see that data set's SOURCE.md). Many top tweets of a scandal's stream are
   about other things, so read the shares relative to each other.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import CATEGORIES, MentionClassifier
from models.classifier import CATEGORY_THRESHOLD
from models.data import EN_DEV_SOURCES, EN_SENTIMENT_ONLY_SOURCES, Example, load_corpora
from models.evaluation import category_scores
from models.training import fit_category_pipeline
from pipeline.settings import Settings

# What each scandal in the shared copy is about (dates and top tweets; SOURCE.md says "verify").
SCANDAL_TOPICS: dict[str, tuple[str, ...]] = {
    "WellsFargo1": ("fraud_scam",),  # millions of fake accounts, Sep 2016
    "WWP1": ("fraud_scam",),  # Wounded Warrior Project donations spent on the charity's staff
    "HM": ("discrimination_offensive",),  # "coolest monkey in the jungle" hoodie, Jan 2018
    "Starbucks": ("discrimination_offensive", "staff_misconduct"),  # Philadelphia arrests
    "Oxfam": ("staff_misconduct",),  # aid workers' sexual misconduct in Haiti, Feb 2018
    "Pepsi1": ("discrimination_offensive", "public_backlash"),  # the Kendall Jenner protest ad
    "United1": ("staff_misconduct", "customer_service", "discrimination_offensive"),  # dragged off
    "Nike": ("product_safety",),  # a player's shoe burst in a game, Feb 2019
    "JJ1": ("product_safety", "legal_regulatory"),  # talc verdicts, 2018
    "ComicRelief": ("discrimination_offensive", "public_backlash"),  # "white saviour" row, 2019
}


COMBINED = "combined (as classified)"


def _flags(predicted: dict[str, float]) -> set[str]:
    return {c for c, s in predicted.items() if s >= CATEGORY_THRESHOLD}


def held_out_airline(
    en_train: Sequence[Example], lexicon: MentionClassifier, folds: int
) -> dict[str, dict[str, dict[str, float]]]:
    """Per-category scores of learned / lexicon / combined on held-out airline tweets."""
    rows = [e for e in en_train if e.source not in EN_SENTIMENT_ONLY_SOURCES]
    airline = [i for i, e in enumerate(rows) if e.source == "airline-tweets"]
    others = [i for i, e in enumerate(rows) if e.source != "airline-tweets"]
    labels = np.array([e.category or "none" for e in rows], dtype=object)
    texts = [e.text for e in rows]
    score_lexicon = lexicon.term_scorer({})
    gold: list[frozenset[str]] = []
    learned: list[set[str]] = []
    lexical: list[set[str]] = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    air = np.array(airline)
    for k, (fit_idx, test_idx) in enumerate(splitter.split(air, labels[air])):
        train = others + air[fit_idx].tolist()
        test = air[test_idx].tolist()
        pipe = fit_category_pipeline([texts[i] for i in train], labels[train].tolist())
        proba = pipe.predict_proba([texts[i] for i in test])
        classes = list(pipe.classes_)
        for row in proba:
            learned.append(
                {c for c, p in zip(classes, row, strict=True) if c in CATEGORIES and p >= 0.5}
            )
        lexical += [_flags(d) for d in score_lexicon([texts[i] for i in test])]
        gold += [frozenset() if labels[i] == "none" else frozenset({labels[i]}) for i in test]
        print(f"  fold {k + 1}/{folds}: {len(test)} held-out airline tweets", flush=True)
    combined = [a | b for a, b in zip(learned, lexical, strict=True)]
    return {
        "learned model": category_scores(gold, learned),
        "lexicons": category_scores(gold, lexical),
        COMBINED: category_scores(gold, combined),
    }


def print_held_out(results: dict[str, dict[str, dict[str, float]]]) -> None:
    labelled = sorted(
        {c for r in results.values() for c, m in r.items() if c != "micro" and m["support"]},
        key=CATEGORIES.index,
    )
    print(f"\n{'category':<18} {'n':>5}  " + "".join(f"{name:>26}" for name in results))
    print(f"{'':<18} {'':>5}  " + "".join(f"{'P / R / F1':>26}" for _ in results))
    for cat in [*labelled, "micro"]:
        support = int(next(iter(results.values()))[cat]["support"])
        cells = []
        for r in results.values():
            m = r.get(cat) or {"precision": 0.0, "recall": 0.0, "f1": 0.0}
            cells.append(f"{m['precision']:.2f} / {m['recall']:.2f} / {m['f1']:.2f}")
        print(f"{cat:<18} {support:>5}  " + "".join(f"{c:>26}" for c in cells))
    combined = results[COMBINED]
    unlabelled = {
        c: int(m["predicted"]) for c, m in combined.items() if c != "micro" and not m["support"]
    }
    if unlabelled:
        print(
            "categories with no airline label, flagged on these tweets (combined): "
            + ", ".join(f"{c} {n}" for c, n in unlabelled.items())
        )


def false_flags(clf: MentionClassifier, sets: dict[str, Sequence[Example]]) -> None:
    print(
        f"\n{'held-out set':<34} {'non-negative':>13} {'with a category':>16} "
        f"{'negative':>9} {'with a category':>16}  most flagged on non-negative"
    )
    for name, examples in sets.items():
        preds = clf.predict([e.text for e in examples], [e.lang for e in examples])
        calm = [p for p, e in zip(preds, examples, strict=True) if e.label != "negative"]
        angry = [p for p, e in zip(preds, examples, strict=True) if e.label == "negative"]
        calm_flagged = sum(1 for p in calm if p.categories)
        angry_flagged = sum(1 for p in angry if p.categories)
        top = Counter(c for p in calm for c in p.categories).most_common(3)
        print(
            f"{name:<34} {len(calm):>13} {calm_flagged / max(1, len(calm)):>16.1%} "
            f"{len(angry):>9} {angry_flagged / max(1, len(angry)):>16.1%}  "
            + ", ".join(f"{c} {n}" for c, n in top)
        )


def scandals(clf: MentionClassifier, data_dir: Path) -> None:
    root = data_dir / "scandalist-brand-scandals" / "k_top_tweets_by_metric"
    print(
        f"\n{'scandal':<12} {'tweets':>6} {'any category':>13} {'its topic':>10}  "
        "topic (most flagged categories)"
    )
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        texts: set[str] = set()
        for f in sorted(folder.glob("*.csv")):
            with f.open(newline="", encoding="utf-8", errors="replace") as handle:
                texts.update(r["text"] for r in csv.DictReader(handle) if r.get("text"))
        ordered = sorted(texts)
        preds = clf.predict(ordered)
        topic = SCANDAL_TOPICS.get(folder.name, ())
        on_topic = sum(1 for p in preds if set(p.categories) & set(topic))
        counts = Counter(c for p in preds for c in p.categories).most_common(3)
        print(
            f"{folder.name:<12} {len(preds):>6} "
            f"{sum(1 for p in preds if p.categories) / len(preds):>13.1%} "
            f"{on_topic / len(preds):>10.1%}  {'+'.join(topic) or '?'} "
            f"({', '.join(f'{c} {n}' for c, n in counts)})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Settings().data_dir)
    parser.add_argument("--model", type=Path, default=Settings().model_path)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    clf = MentionClassifier.load(args.model)
    corpora = load_corpora(args.data_dir)
    en_train = [e for e in corpora.en if e.source not in EN_DEV_SOURCES]
    print(f"1. airline complaint reasons, {args.folds}-fold held out (learned model refitted)")
    print_held_out(held_out_airline(en_train, clf, args.folds))
    print("\n2. categories on held-out texts people labelled neutral or positive")
    false_flags(
        clf,
        {
            "en (tweeteval-val + sentiment140)": [
                e for e in corpora.en if e.source in EN_DEV_SOURCES
            ],
            "he (onlp dev)": corpora.he_dev,
            "ar (astd dev split)": corpora.ar_dev,
        },
    )
    print("\n3. real scandals' top tweets (no labels; topic from the scandal)")
    scandals(clf, args.data_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
