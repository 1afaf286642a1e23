"""``MentionClassifier``: language, sentiment with calibrated P(negative) and crisis categories.

The artifact is a directory: one joblib file per scikit-learn Pipeline (``sentiment-en``,
``sentiment-he``, ``sentiment-ar``, ``categories-en``) and ``manifest.json`` with the format
version, library versions, file hashes and metrics. The manifest is checked before anything is
unpickled; only load artifacts you trust (joblib files can run code).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.extmath import softmax

from models.features import CalibratedLinear, NgramHasher, TextBatch
from models.lexicon import CATEGORIES, CategoryMatcher, load_lexicons
from models.normalize import LANGS, detect_languages, normalize_batch
from pipeline.errors import ModelError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
DEFAULT_ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"
MANIFEST = "manifest.json"
SENTIMENT_MODELS = {"en": "sentiment-en", "he": "sentiment-he", "ar": "sentiment-ar"}
CATEGORY_MODEL = "categories-en"
CATEGORY_THRESHOLD = 0.5
_BATCH = 8192
# With several threads a call is cut into pieces of at least this many texts, about two per
# thread: the threads then fall out of step, so one runs the regular-expression passes (which
# hold the GIL) while another is in numpy and scipy (which release it). Smaller pieces lose more
# to per-call overhead than they gain.
_MIN_PIECE = 1024
_MAX_AUTO_THREADS = 4


def default_threads() -> int:
    """Threads a classifier uses when none are asked for: the machine's cores, at most 4."""
    return max(1, min(_MAX_AUTO_THREADS, os.cpu_count() or 1))


@dataclass(frozen=True, slots=True)
class Prediction:
    """Classification of one mention."""

    label: str  # "negative" | "neutral" | "positive"
    negative: float  # calibrated P(negative) in [0, 1]
    lang: str  # "en" | "he" | "ar" | "other"
    categories: dict[str, float]  # crisis category -> score in [0, 1], only scores >= 0.5


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict[str, Any]:
    """Read and check the manifest of an artifact directory (no unpickling)."""
    path = directory / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        msg = f"no model artifact at {directory} ({MANIFEST} missing); run `python -m models train`"
        raise ModelError(msg) from exc
    except (OSError, ValueError) as exc:
        msg = f"unreadable model manifest {path}: {exc}"
        raise ModelError(msg) from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        msg = (
            f"model format version {manifest.get('format_version')!r} at {directory} is not "
            f"{FORMAT_VERSION}; retrain with `python -m models train`"
        )
        raise ModelError(msg)
    trained_with = manifest.get("versions", {}).get("scikit-learn")
    if trained_with != sklearn.__version__:
        msg = (
            f"model at {directory} was trained with scikit-learn {trained_with}, this is "
            f"{sklearn.__version__}; retrain with `python -m models train`"
        )
        raise ModelError(msg)
    return manifest


def _same_hasher(a: Any, b: Any) -> bool:
    """True if two fitted hashers turn the same texts into the same matrix."""
    if type(a) is not type(b) or a.get_params() != b.get_params():
        return False
    for name in ("n_features_out_", "lex_keys_", "lex_values_", "idf_", "prefixes_"):
        x, y = getattr(a, name, None), getattr(b, name, None)
        if x is None or y is None:
            if x is not y:
                return False
        elif not np.array_equal(x, y):
            return False
    return True


class _LanguageScorer:
    """Sentiment scores, and for English the learned category scores, of one language's texts.

    When the category model shares the sentiment model's hasher (as trained), the class weights
    of both are stacked into one C-contiguous matrix and one sparse-dense product (scipy's
    ``csr_matvecs``) scores them together. That product sums every column over a row's entries in
    the same order as the separate ``X @ coef_.T`` products, so the scores are bit-identical to
    ``CalibratedLinear.decision_function`` and ``LogisticRegression.predict_proba``; anything that
    does not fit (another hasher, a binary or non-linear category model, mixed weight dtypes)
    takes the plain scikit-learn calls.
    """

    def __init__(self, sentiment: Pipeline, categories: Pipeline | None) -> None:
        self.hasher: NgramHasher = sentiment.named_steps["hash"]
        self.clf: CalibratedLinear = sentiment.named_steps["clf"]
        coef = self.clf.lr_.coef_
        self._n_classes = coef.shape[0]
        self._offset = self.clf.lr_.intercept_ + self.clf.bias_
        self._categories = categories
        self._cat_columns: list[tuple[int, int]] = []
        self._cat_intercept: np.ndarray | None = None
        self._cat_hasher: NgramHasher | None = None
        weights = coef
        if categories is not None:
            cat_clf = categories.named_steps["clf"]
            self._cat_columns = [
                (j, CATEGORIES.index(c)) for j, c in enumerate(cat_clf.classes_) if c in CATEGORIES
            ]
            cat_hasher = categories.named_steps["hash"]
            self._cat_hasher = None if _same_hasher(cat_hasher, self.hasher) else cat_hasher
            if (
                self._cat_hasher is None
                and isinstance(cat_clf, LogisticRegression)
                and len(cat_clf.classes_) > 2
                and cat_clf.coef_.dtype == coef.dtype
            ):
                weights = np.vstack([coef, cat_clf.coef_])
                self._cat_intercept = cat_clf.intercept_
        self._weights = np.ascontiguousarray(weights.T)

    def scores(self, batch: TextBatch) -> tuple[np.ndarray, np.ndarray | None]:
        """Sentiment decision scores (with the tuned bias) and learned category scores."""
        X = self.hasher.transform_batch(batch)
        S = X @ self._weights
        z: np.ndarray = S[:, : self._n_classes] + self._offset
        if self._categories is None:
            return z, None
        if self._cat_intercept is not None:
            proba = softmax(S[:, self._n_classes :] + self._cat_intercept, copy=False)
        else:
            X_cat = X if self._cat_hasher is None else self._cat_hasher.transform_batch(batch)
            proba = self._categories.named_steps["clf"].predict_proba(X_cat)
        learned = np.zeros((batch.n_docs, len(CATEGORIES)))
        for j, col in self._cat_columns:
            learned[:, col] = proba[:, j]
        return z, learned


class MentionClassifier:
    """Batched mention classifier; build it with :meth:`load`."""

    def __init__(
        self,
        sentiment: Mapping[str, Pipeline],
        categories: Pipeline | None,
        matcher: CategoryMatcher,
        manifest: Mapping[str, Any] | None = None,
        threads: int | None = None,
    ) -> None:
        missing = set(SENTIMENT_MODELS) - set(sentiment)
        if missing:
            msg = f"sentiment pipelines missing for {sorted(missing)}"
            raise ModelError(msg)
        self._sentiment = dict(sentiment)
        self._categories = categories
        self._matcher = matcher
        self.manifest: dict[str, Any] = dict(manifest or {})
        self._scorers = {
            lang: _LanguageScorer(pipe, categories if lang == "en" else None)
            for lang, pipe in self._sentiment.items()
        }
        self._use_threads(threads)

    def _use_threads(self, threads: int | None) -> None:
        if threads is not None and threads < 0:
            msg = f"threads must be >= 0 (0: default), not {threads}"
            raise ValueError(msg)
        #: threads one :meth:`predict` call may use (predictions do not depend on it)
        self.threads = threads or default_threads()
        self._pool = (
            ThreadPoolExecutor(self.threads, thread_name_prefix="emberwatch-classify")
            if self.threads > 1
            else None
        )

    # --- loading -----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path | None = None, threads: int | None = None) -> MentionClassifier:
        """Load an artifact directory (default: the committed one in ``models/artifacts``);
        ``threads``: see :meth:`predict` (None or 0: :func:`default_threads`)."""
        directory = DEFAULT_ARTIFACT_DIR if path is None else Path(path)
        if directory.is_file():
            directory = directory.parent
        manifest = read_manifest(directory)
        pipelines: dict[str, Pipeline] = {}
        for name, meta in manifest.get("files", {}).items():
            file = directory / meta["file"]
            if not file.is_file():
                msg = f"model file {file} listed in the manifest is missing"
                raise ModelError(msg)
            if sha256_file(file) != meta["sha256"]:
                msg = f"model file {file} does not match its manifest hash (corrupt or replaced)"
                raise ModelError(msg)
            try:
                obj = joblib.load(file)
            except Exception as exc:  # unpickling can fail in many ways; all mean "corrupt"
                msg = f"cannot load model file {file}: {exc}"
                raise ModelError(msg) from exc
            if not isinstance(obj, Pipeline):
                msg = f"model file {file} does not hold a scikit-learn Pipeline"
                raise ModelError(msg)
            pipelines[name] = obj
        sentiment = {}
        for lang, name in SENTIMENT_MODELS.items():
            if name not in pipelines:
                msg = f"artifact at {directory} has no {name} pipeline"
                raise ModelError(msg)
            sentiment[lang] = pipelines[name]
        matcher = CategoryMatcher(load_lexicons())
        logger.info("loaded classifier from %s (trained %s)", directory, manifest.get("trained_at"))
        return cls(sentiment, pipelines.get(CATEGORY_MODEL), matcher, manifest, threads)

    def with_threads(self, threads: int) -> MentionClassifier:
        """A copy sharing the fitted models that classifies with ``threads`` threads (0: the
        default, see :func:`default_threads`)."""
        clone = copy.copy(self)  # shares the fitted models and their stacked weights
        clone._use_threads(threads)
        return clone

    def with_extra_terms(self, extra: Mapping[str, Sequence[str]]) -> MentionClassifier:
        """A copy whose category lexicon also holds ``extra`` (category -> terms), e.g. per brand.

        Terms use the lexicon syntax (``term``, ``term~`` weak, ``prefix*``). Unknown categories
        raise ``ValueError``.
        """
        clone = copy.copy(self)  # shares the fitted models and their stacked weights
        clone._matcher = self._matcher.extended(extra)
        return clone

    def term_scorer(
        self, extra: Mapping[str, Sequence[str]]
    ) -> Callable[[Sequence[str]], list[dict[str, float]]]:
        """A function scoring texts with the curated lexicon plus ``extra`` (category -> terms).

        For a brand's catalog ``lexicon``: the pipeline classifies every mention once with the
        shared model, then scores that brand's mentions with this function and keeps the larger
        score per category, which is what :meth:`with_extra_terms` would give. Unknown categories
        raise ``ValueError`` here, when the catalog is loaded, not per mention.
        """
        matcher = self._matcher.extended(extra)

        def score(texts: Sequence[str]) -> list[dict[str, float]]:
            return _thresholded(matcher.scores(normalize_batch(list(texts))))

        return score

    # --- prediction --------------------------------------------------------------------------
    def predict(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> list[Prediction]:
        """Classify texts; ``langs`` hints (``en``/``he``/``ar``/``other``) skip detection.

        A call of more than 1,024 texts is cut into pieces that the classifier's threads
        (:attr:`threads`) classify side by side. A text's prediction does not depend on the
        other texts in its piece, so the result is the same for any number of threads.
        """
        if langs is not None and len(langs) != len(texts):
            msg = f"{len(texts)} texts but {len(langs)} language hints"
            raise ValueError(msg)
        n = len(texts)
        size = _BATCH
        if self._pool is not None:
            size = min(_BATCH, max(_MIN_PIECE, -(-n // (2 * self.threads))))
        pieces = [
            (list(texts[i : i + size]), None if langs is None else list(langs[i : i + size]))
            for i in range(0, n, size)
        ]
        if self._pool is None or len(pieces) < 2:
            results = [self._predict_batch(chunk, hints) for chunk, hints in pieces]
        else:
            results = list(self._pool.map(lambda piece: self._predict_batch(*piece), pieces))
        return [p for result in results for p in result]

    def _resolve_langs(self, texts: list[str], hints: list[str | None] | None) -> list[str]:
        if hints is None:
            return detect_languages(texts)
        resolved: list[str | None] = [
            h.lower() if isinstance(h, str) and h.lower() in LANGS else None for h in hints
        ]
        todo = [i for i, h in enumerate(resolved) if h is None]
        if todo:
            detected = detect_languages([texts[i] for i in todo])
            for i, lang in zip(todo, detected, strict=True):
                resolved[i] = lang
        return [str(x) for x in resolved]

    def _predict_batch(self, texts: list[str], hints: list[str | None] | None) -> list[Prediction]:
        n = len(texts)
        if n == 0:
            return []
        langs = self._resolve_langs(texts, hints)
        normalized = normalize_batch(texts)
        labels = np.empty(n, dtype=object)
        p_neg = np.zeros(n)
        cat_scores = np.zeros((n, len(CATEGORIES)))
        lang_arr = np.asarray(langs)
        for model_lang, scorer in self._scorers.items():
            if model_lang == "en":
                idx = np.flatnonzero((lang_arr == "en") | (lang_arr == "other"))
            else:
                idx = np.flatnonzero(lang_arr == model_lang)
            if len(idx) == 0:
                continue
            # one analysis of the texts serves the n-gram hasher and the category lexicons
            group = normalized if len(idx) == n else [normalized[i] for i in idx.tolist()]
            batch = TextBatch(group)
            z, learned = scorer.scores(batch)
            labels[idx] = scorer.clf.labels_from_scores(z)
            p_neg[idx] = scorer.clf.negative_from_scores(z)
            lexical = self._matcher.scores_batch(batch)
            cat_scores[idx] = lexical if learned is None else np.maximum(lexical, learned)
        cats = _thresholded(cat_scores)
        return [
            Prediction(str(label), neg, lang, cat)
            for label, neg, lang, cat in zip(
                labels.tolist(), p_neg.tolist(), langs, cats, strict=True
            )
        ]


def _thresholded(cat_scores: np.ndarray) -> list[dict[str, float]]:
    """Per row, the categories scoring at least ``CATEGORY_THRESHOLD`` (rounded to 4 places)."""
    cats: list[dict[str, float]] = [{} for _ in range(cat_scores.shape[0])]
    rows, cols = np.nonzero(cat_scores >= CATEGORY_THRESHOLD)
    for i, j, score in zip(
        rows.tolist(), cols.tolist(), np.round(cat_scores[rows, cols], 4).tolist(), strict=True
    ):
        cats[i][CATEGORIES[j]] = score
    return cats
