"""Readers for the labelled corpora under the shared data directory, with harmonised labels.

Nothing here copies data: every reader takes the data directory (``Settings.data_dir``) and yields
``Example`` rows. Label harmonisation (documented in MODEL_CARD.md):

* airline-tweets: negative/neutral/positive as given; ``negativereason`` -> crisis categories.
* apple-twitter-sentiment-dfe: 1 -> negative, 3 -> neutral, 5 -> positive; not_relevant dropped.
* sanders-brand-tweets: positive/negative/neutral; irrelevant dropped.
* sxsw-brand-emotion: Positive/Negative emotion; "No emotion toward brand or product" -> neutral;
  "I can't tell" dropped.
* sentiment140-test: 0/2/4 -> negative/neutral/positive.
* tweeteval sentiment (validation split): 0/1/2 -> negative/neutral/positive.
* tweeteval emotion (train, val and test splits; SemEval-2018 tweets): anger, sadness -> negative;
  joy, optimism -> positive (no neutral class: sentiment training only, never a held-out fold).
* hebrew-sentiment-onlp (token): 0 -> positive, 1 -> negative, 2 (off-topic) -> neutral.
* astd-arabic: NEG -> negative, POS -> positive, OBJ and NEUTRAL -> neutral.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ModelError

logger = logging.getLogger(__name__)

# airline negativereason -> crisis category ("Bad Flight" and "Can't Tell" carry no category)
AIRLINE_REASONS: dict[str, str] = {
    "Customer Service Issue": "customer_service",
    "Lost Luggage": "customer_service",
    "Damaged Luggage": "customer_service",
    "longlines": "customer_service",
    "Late Flight": "service_outage",
    "Cancelled Flight": "service_outage",
    "Flight Booking Problems": "billing",
    "Flight Attendant Complaints": "staff_misconduct",
}

# English corpora never used to train the committed English model: its held-out dev set.
EN_DEV_SOURCES = ("tweeteval-sentiment-val", "sentiment140-test")
# English corpora used for sentiment only (no crisis-category labels, no neutral class).
EN_SENTIMENT_ONLY_SOURCES = ("tweeteval-emotion",)


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str  # negative | neutral | positive
    lang: str
    source: str
    category: str | None = None


def _csv_rows(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    if not path.is_file():
        msg = f"missing data file {path}"
        raise ModelError(msg)
    with path.open(encoding=encoding, newline="", errors="replace") as fh:
        return list(csv.DictReader(fh))


def _airline(d: Path) -> list[Example]:
    out = []
    for r in _csv_rows(d / "airline-tweets" / "Tweets.csv"):
        negative = r["airline_sentiment"] == "negative"
        cat = AIRLINE_REASONS.get(r["negativereason"]) if negative else None
        out.append(Example(r["text"], r["airline_sentiment"], "en", "airline-tweets", cat))
    return out


def _apple(d: Path) -> list[Example]:
    path = d / "apple-twitter-sentiment-dfe" / "Apple-Twitter-Sentiment-DFE.csv"
    m = {"1": "negative", "3": "neutral", "5": "positive"}
    return [
        Example(r["text"], m[r["sentiment"]], "en", "apple-twitter-sentiment-dfe")
        for r in _csv_rows(path, "latin-1")
        if r["sentiment"] in m
    ]


def _sanders(d: Path) -> list[Example]:
    path = d / "sanders-brand-tweets" / "full-corpus.csv"
    keep = {"positive", "negative", "neutral"}
    return [
        Example(r["TweetText"], r["Sentiment"], "en", "sanders-brand-tweets")
        for r in _csv_rows(path)
        if r["Sentiment"] in keep
    ]


def _sxsw(d: Path) -> list[Example]:
    path = d / "sxsw-brand-emotion" / "judge-1377884607_tweet_product_company.csv"
    m = {
        "Positive emotion": "positive",
        "Negative emotion": "negative",
        "No emotion toward brand or product": "neutral",
    }
    col = "is_there_an_emotion_directed_at_a_brand_or_product"
    return [
        Example(r["tweet_text"], m[r[col]], "en", "sxsw-brand-emotion")
        for r in _csv_rows(path, "latin-1")
        if r[col] in m and r["tweet_text"]
    ]


def _s140(d: Path) -> list[Example]:
    path = d / "sentiment140-test" / "testdata.manual.2009.06.14.csv"
    if not path.is_file():
        msg = f"missing data file {path}"
        raise ModelError(msg)
    m = {"0": "negative", "2": "neutral", "4": "positive"}
    with path.open(encoding="latin-1", newline="") as fh:
        return [Example(r[5], m[r[0]], "en", "sentiment140-test") for r in csv.reader(fh) if r]


def _tweeteval(d: Path) -> list[Example]:
    base = d / "tweeteval" / "sentiment"
    try:
        texts = (base / "val_text.txt").read_text(encoding="utf-8").splitlines()
        labels = (base / "val_labels.txt").read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        msg = f"cannot read tweeteval sentiment validation split under {base}: {exc}"
        raise ModelError(msg) from exc
    m = {"0": "negative", "1": "neutral", "2": "positive"}
    return [
        Example(t, m[lab.strip()], "en", "tweeteval-sentiment-val")
        for t, lab in zip(texts, labels, strict=True)
    ]


def _tweeteval_emotion(d: Path) -> list[Example]:
    base = d / "tweeteval" / "emotion"
    m = {"0": "negative", "1": "positive", "2": "positive", "3": "negative"}
    out = []
    for split in ("train", "val", "test"):
        try:
            texts = (base / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
            labels = (base / f"{split}_labels.txt").read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            msg = f"cannot read tweeteval emotion {split} split under {base}: {exc}"
            raise ModelError(msg) from exc
        out += [
            Example(t, m[lab.strip()], "en", "tweeteval-emotion")
            for t, lab in zip(texts, labels, strict=True)
        ]
    return out


def _hebrew(d: Path, split: str) -> list[Example]:
    path = d / "hebrew-sentiment-onlp" / "token" / f"{split}.tsv"
    if not path.is_file():
        msg = f"missing data file {path}"
        raise ModelError(msg)
    m = {"0": "positive", "1": "negative", "2": "neutral"}
    out = []
    with path.open(encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            text, _, lab = line.rstrip("\n").rpartition("\t")
            if lab.strip() in m and text:
                out.append(Example(text, m[lab.strip()], "he", f"hebrew-sentiment-onlp/{split}"))
    return out


def _astd(d: Path) -> list[Example]:
    path = d / "astd-arabic" / "tweets_train.tsv"
    if not path.is_file():
        msg = f"missing data file {path}"
        raise ModelError(msg)
    m = {"NEG": "negative", "POS": "positive", "OBJ": "neutral", "NEUTRAL": "neutral"}
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            text, _, lab = line.rstrip("\n").rpartition("\t")
            if lab.strip() in m and text:
                out.append(Example(text, m[lab.strip()], "ar", "astd-arabic"))
    return out


def is_dev_arabic(text: str) -> bool:
    """Deterministic 20% dev split of ASTD by text hash (duplicates land on the same side)."""
    digest = hashlib.sha1(" ".join(text.split()).encode("utf-8")).digest()  # noqa: S324
    return digest[0] % 5 == 0


@dataclass(frozen=True, slots=True)
class Corpora:
    en: list[Example]  # every English corpus (source column tells them apart)
    he_train: list[Example]
    he_dev: list[Example]
    ar_train: list[Example]
    ar_dev: list[Example]


def load_corpora(data_dir: Path) -> Corpora:
    """Read every labelled corpus the classifier uses; ``ModelError`` if a file is missing."""
    if not data_dir.is_dir():
        msg = f"data directory {data_dir} does not exist (set EMBERWATCH_DATA_DIR)"
        raise ModelError(msg)
    en: list[Example] = []
    for reader in (_airline, _apple, _sanders, _sxsw, _tweeteval_emotion, _s140, _tweeteval):
        en.extend(reader(data_dir))
    ar = _astd(data_dir)
    corpora = Corpora(
        en=en,
        he_train=_hebrew(data_dir, "train"),
        he_dev=_hebrew(data_dir, "dev"),
        ar_train=[e for e in ar if not is_dev_arabic(e.text)],
        ar_dev=[e for e in ar if is_dev_arabic(e.text)],
    )
    logger.info(
        "loaded en=%d he=%d/%d ar=%d/%d",
        len(corpora.en),
        len(corpora.he_train),
        len(corpora.he_dev),
        len(corpora.ar_train),
        len(corpora.ar_dev),
    )
    return corpora
