"""The committed classifier artifact: API, calibration, version checks, pinned dev metrics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models import CATEGORIES, MentionClassifier, Prediction, evaluate
from models.classifier import DEFAULT_ARTIFACT_DIR, MANIFEST, default_threads, read_manifest
from pipeline.errors import ModelError
from pipeline.settings import Settings


@pytest.fixture(scope="module")
def clf() -> MentionClassifier:
    return MentionClassifier.load()


def test_predictions_have_the_documented_shape(clf: MentionClassifier) -> None:
    texts = [
        "@united lost my bag AGAIN and customer service hung up on me",
        "Loving the new phone, battery is amazing :)",
        "השירות פשוט מחפיר, חויבתי פעמיים",
        "خدمة العملاء سيئة جدا",
        "😂😂",
        "",
    ]
    preds = clf.predict(texts)
    assert len(preds) == len(texts)
    for p in preds:
        assert isinstance(p, Prediction)
        assert p.label in {"negative", "neutral", "positive"}
        assert 0.0 <= p.negative <= 1.0
        assert p.lang in {"en", "he", "ar", "other"}
        assert set(p.categories) <= set(CATEGORIES)
        assert all(0.5 <= s <= 1.0 for s in p.categories.values())
    assert [p.lang for p in preds] == ["en", "en", "he", "ar", "other", "other"]
    assert preds[0].label == "negative"
    assert "customer_service" in preds[0].categories
    assert preds[1].label == "positive"
    assert "billing" in preds[2].categories


def test_language_hints_are_used_and_bad_hints_ignored(clf: MentionClassifier) -> None:
    preds = clf.predict(["hello world", "hello world", "hello world"], ["he", None, "klingon"])
    assert [p.lang for p in preds] == ["he", "en", "en"]


def test_hint_length_must_match(clf: MentionClassifier) -> None:
    with pytest.raises(ValueError, match="language hints"):
        clf.predict(["a", "b"], ["en"])


def test_empty_batch(clf: MentionClassifier) -> None:
    assert clf.predict([]) == []


def test_batch_results_do_not_depend_on_batch_composition(clf: MentionClassifier) -> None:
    texts = ["worst airline ever", "thanks for the upgrade!", "שירות מעולה", "سيء جدا"]
    together = clf.predict(texts)
    alone = [clf.predict([t])[0] for t in texts]
    assert together == alone


def test_threads_do_not_change_predictions(clf: MentionClassifier) -> None:
    bases = [
        "worst airline ever, lost my bag #NeverAgain",
        "thanks for the upgrade! :)",
        "my card was charged twice and nobody answers",
        "שירות מעולה, תודה",
        "השירות פשוט מחפיר",
        "سيء جدا",
        "الخدمة ممتازة",
        "el servicio es muy malo y no me ayudan",
        "",
    ]
    texts = [f"{bases[i % len(bases)]} {i}" for i in range(2600)]
    hints = [None if i % 3 else "en" for i in range(len(texts))]
    one, three = clf.with_threads(1), clf.with_threads(3)
    assert (one.threads, three.threads) == (1, 3)
    # 2,600 texts on 3 threads: three pieces of at most 1,024
    assert three.predict(texts) == one.predict(texts)
    assert three.predict(texts, hints) == one.predict(texts, hints)
    assert three.predict(texts[:5]) == one.predict(texts[:5])


def test_thread_count_is_checked(clf: MentionClassifier) -> None:
    assert 1 <= default_threads() <= 4
    assert clf.with_threads(0).threads == default_threads()
    with pytest.raises(ValueError, match="threads"):
        clf.with_threads(-1)


@pytest.mark.parametrize(
    "steps",
    [
        [
            "the flight was ok",
            "the flight was late",
            "the flight was late and the staff were rude",
            "the flight was late, the staff were rude, worst airline ever, never again :(",
        ],
        [
            "השירות היה בסדר",
            "השירות היה גרוע",
            "השירות היה גרוע ומחפיר, בושה וחרפה",
        ],
    ],
)
def test_p_negative_grows_with_negative_evidence(clf: MentionClassifier, steps: list[str]) -> None:
    probs = [p.negative for p in clf.predict(steps)]
    assert probs == sorted(probs), probs
    assert probs[-1] > probs[0] + 0.3


def test_extra_terms_extend_categories_per_brand(clf: MentionClassifier) -> None:
    text = "my Zephyr X2 got bricked by the update"
    assert "product_safety" not in clf.predict([text])[0].categories
    brand = clf.with_extra_terms({"product_safety": ["bricked"]})
    assert "product_safety" in brand.predict([text])[0].categories
    assert "product_safety" not in clf.predict([text])[0].categories


def _copy_artifact(tmp_path: Path) -> Path:
    target = tmp_path / "artifact"
    shutil.copytree(DEFAULT_ARTIFACT_DIR, target)
    return target


def test_version_mismatch_is_a_model_error(tmp_path: Path) -> None:
    target = _copy_artifact(tmp_path)
    manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    manifest["versions"]["scikit-learn"] = "0.0.1"
    (target / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match=r"scikit-learn 0\.0\.1"):
        MentionClassifier.load(target)


def test_format_mismatch_is_a_model_error(tmp_path: Path) -> None:
    target = _copy_artifact(tmp_path)
    manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    manifest["format_version"] = 999
    (target / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match="format version"):
        MentionClassifier.load(target)


def test_corrupt_file_is_a_model_error(tmp_path: Path) -> None:
    target = _copy_artifact(tmp_path)
    (target / "sentiment-en.joblib").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="hash"):
        MentionClassifier.load(target)


def test_missing_artifact_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model artifact"):
        MentionClassifier.load(tmp_path)


def test_artifact_is_small() -> None:
    size = sum(p.stat().st_size for p in DEFAULT_ARTIFACT_DIR.iterdir())
    assert size <= 50 * 1024 * 1024


def test_committed_model_dev_metrics_are_pinned() -> None:
    data_dir = Settings().data_dir
    if not data_dir.is_dir():
        pytest.skip(f"labelled data not present at {data_dir} (set EMBERWATCH_DATA_DIR)")
    pinned = read_manifest(DEFAULT_ARTIFACT_DIR)["metrics"]["dev"]
    measured = evaluate(data_dir, None)
    assert set(measured) == set(pinned)
    for name, m in pinned.items():
        for key in ("macro_f1", "negative_f1", "accuracy"):
            assert measured[name][key] == pytest.approx(m[key], abs=0.005), (name, key)


def test_package_train_and_evaluate_stay_functions_once_their_modules_load() -> None:
    # They import their implementation lazily; a submodule of the same name would replace the
    # package attribute at that import, so a second `models.evaluate(...)` call would fail.
    import inspect

    import models
    import models.evaluation
    import models.training

    assert inspect.isfunction(models.train) and inspect.isfunction(models.evaluate)
    assert models.evaluation.evaluate is not models.evaluate
