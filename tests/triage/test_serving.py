"""The serving model: compiled from the fitted pipeline, it decides and explains as the
pipeline does, loads without scikit-learn, and models saved before it still serve."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings

from triage import learning, serving
from triage.classifier import prepare_one

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pipeline(classifier_artifact: bytes) -> learning.Classifier:
    return learning.Classifier.loads(classifier_artifact)


@pytest.fixture(scope="module")
def real_texts() -> list[str]:
    """300 texts of the labelled CSV's test split and 300 raw messages (title and body)."""
    datasets = Path(settings.TRAINING_CSV).parent
    with Path(settings.TRAINING_CSV).open(encoding="utf-8-sig") as handle:
        test = [row["text"] for row in csv.DictReader(handle) if row["split"] == "test"][:300]
    with (datasets / "messages_unlabelled.csv").open(encoding="utf-8-sig") as handle:
        raw = [f"{row['title']}\n{row['body']}" for row in csv.DictReader(handle)][:300]
    return test + raw


def assert_same_decisions(pipeline: learning.Classifier, model: serving.ServingModel, texts: list[str], *,
                          top: int = 3, terms: int = 6) -> None:
    prepared = [prepare_one(text) for text in texts]
    x = pipeline.pipeline.named_steps["features"].transform(prepared).tocsr()
    expected_proba = pipeline.pipeline.named_steps["clf"].predict_proba(x)
    assert np.abs(model.predict_proba(prepared) - expected_proba).max() < 1e-9
    expected = pipeline.explain_prepared(prepared, top=top, terms=terms)
    served = model.explain_prepared(prepared, top=top, terms=terms)
    assert [p.label for p in served] == [p.label for p in expected]
    assert [p.alternatives for p in served] == [p.alternatives for p in expected]
    assert [p.terms for p in served] == [p.terms for p in expected]
    assert max(abs(p.confidence - q.confidence) for p, q in zip(served, expected, strict=True)) < 1e-9
    assert model.predict(texts[:20]) == pipeline.predict(texts[:20])


def test_the_compiled_model_decides_as_the_pipeline_on_real_texts(pipeline: learning.Classifier, real_texts: list[str],
                                                                  classifier_serving: bytes) -> None:
    model = serving.ServingModel.loads(classifier_serving)
    assert model.labels == pipeline.labels
    assert any(p.terms for p in model.explain_prepared([prepare_one(t) for t in real_texts[:10]]))
    assert_same_decisions(pipeline, model, real_texts)


def test_its_features_are_the_pipelines_matrix(pipeline: learning.Classifier, real_texts: list[str],
                                               classifier_serving: bytes) -> None:
    prepared = [prepare_one(text) for text in [*real_texts[:50], "", "x", "  ", *real_texts[-50:]]]
    prepared.append((["楼道 杂物", "没人", "楼道"], "tab\t\tand  spaces"))  # a spaced token and collapsed whitespace
    x = pipeline.pipeline.named_steps["features"].transform(prepared).tocsr()
    indptr, columns, data = serving.ServingModel.loads(classifier_serving).features(prepared)
    assert np.array_equal(indptr, x.indptr) and np.array_equal(columns, x.indices)
    assert np.abs(data - x.data).max() < 1e-12


def test_small_and_binary_models_compile_to_the_same_decisions() -> None:
    texts = ["物业停水小区", "拖欠工资社保", "物业费小区停电", "工资社保拖欠", "学校学生老师", "老师学校收费",
             "物业停水，100，小区，A1区，停水"] * 3
    labels = ["城乡建设", "劳动和社会保障", "城乡建设", "劳动和社会保障", "教育文体", "教育文体", "城乡建设"] * 3
    unseen = ["小区物业停水拖欠工资", "学校老师", "没有见过的词", "", "社保工资物业", "A1区100停水"]
    for n_classes in (3, 2):
        chosen = [i for i, label in enumerate(labels) if label in sorted(set(labels))[:n_classes]]
        pipeline = learning.fit([texts[i] for i in chosen], [labels[i] for i in chosen]).pipeline
        for min_df in (1, 5):  # every word may be shown / only the frequent ones
            fitted = learning.Classifier(pipeline, min_df_for_terms=min_df)
            model = serving.ServingModel.loads(learning.compile_model(fitted).dumps())
            assert_same_decisions(fitted, model, texts + unseen, top=2, terms=3)


def test_stored_arrays_are_read_only_views_and_round_trip(classifier_serving: bytes) -> None:
    model = serving.ServingModel.loads(classifier_serving)
    assert not model.arrays["coef_0_values"].flags.writeable
    again = serving.ServingModel.loads(model.dumps())
    assert again.meta == json.loads(json.dumps(model.meta))
    assert all(np.array_equal(again.arrays[name], array) for name, array in model.arrays.items())
    with pytest.raises(ValueError, match="not a serving model"):
        serving.ServingModel.loads(b"QFCLF1\n...")


def test_the_word_hash_takes_another_base_when_two_terms_collide(monkeypatch: pytest.MonkeyPatch,
                                                                pipeline: learning.Classifier,
                                                                real_texts: list[str]) -> None:
    first = serving.HASH_BASES[0]

    class Colliding(serving.SubstringHash):
        def of_terms(self, terms: Any) -> np.ndarray:
            keys = super().of_terms(terms)
            if self.base == first:
                keys[1] = keys[0]
            return keys

    monkeypatch.setattr(learning, "SubstringHash", Colliding)
    model = learning.compile_model(pipeline)
    assert model.meta["words"]["hash_base"] == serving.HASH_BASES[1]
    assert_same_decisions(pipeline, serving.ServingModel.loads(model.dumps()), real_texts[:100])
    monkeypatch.setattr(learning, "HASH_BASES", (first,))
    with pytest.raises(learning.CompileError):
        learning.compile_model(pipeline)


def test_a_pipeline_it_cannot_reproduce_is_refused() -> None:
    fitted = learning.fit(["物业停水", "拖欠工资", "物业费", "工资社保"] * 3, ["城乡建设", "劳动和社会保障"] * 6)
    fitted.pipeline.named_steps["clf"].calibrated_classifiers_[0].method = "isotonic"
    with pytest.raises(learning.CompileError):
        learning.compile_model(fitted)


def test_the_serving_path_does_not_import_scikit_learn_or_scipy(tmp_path: Path, classifier_serving: bytes) -> None:
    """What the worker and web processes import, and loading and using a model, in a fresh
    interpreter."""
    model_path = tmp_path / "model.bin"
    model_path.write_bytes(classifier_serving)
    code = (
        "import sys, django; django.setup()\n"
        "import config.urls, triage.tasks, triage.views, triage.decide, triage.serving\n"
        "from config.celery import app; app.loader.import_default_modules()\n"
        "from pathlib import Path\n"
        f"model = triage.serving.ServingModel.loads(Path({str(model_path)!r}).read_bytes())\n"
        "model.warm_up(); print(model.explain('小区物业停水三天了').label)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy'))\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()


@pytest.mark.django_db
def test_a_model_saved_before_serving_models_is_compiled_on_first_load_and_stored(
    classifier_artifact: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    from triage.decide import active_model, forget_caches
    from triage.models import ClassifierModel

    ClassifierModel.objects.create(version="old", is_active=True, data_hash="x", artifact=classifier_artifact)
    forget_caches()
    with caplog.at_level(logging.INFO, logger="triage.decide"):
        loaded = active_model()
    assert loaded is not None and isinstance(loaded[1], serving.ServingModel)
    assert "compiled" in caplog.text
    stored = ClassifierModel.objects.get(version="old").serving
    assert stored is not None and serving.ServingModel.loads(bytes(stored)).labels == loaded[1].labels
    forget_caches()


@pytest.mark.django_db
def test_a_model_that_cannot_be_compiled_is_served_by_scikit_learn(caplog: pytest.LogCaptureFixture) -> None:
    from triage.decide import active_model, forget_caches
    from triage.models import ClassifierModel

    fitted = learning.fit(["物业停水", "拖欠工资", "物业费", "工资社保"] * 3, ["城乡建设", "劳动和社会保障"] * 6)
    fitted.pipeline.named_steps["clf"].calibrated_classifiers_[0].method = "isotonic"
    ClassifierModel.objects.create(version="odd", is_active=True, data_hash="x", artifact=fitted.dumps())
    forget_caches()
    with caplog.at_level(logging.WARNING, logger="triage.decide"):
        loaded = active_model()
    assert loaded is not None and isinstance(loaded[1], learning.Classifier)
    assert "served by scikit-learn" in caplog.text
    assert ClassifierModel.objects.get(version="odd").serving is None
    forget_caches()


@pytest.mark.django_db
def test_activating_a_model_saved_before_serving_models_compiles_it(classifier_artifact: bytes) -> None:
    from django.core.management import call_command

    from triage.models import ClassifierModel

    ClassifierModel.objects.create(version="old", data_hash="x", artifact=classifier_artifact)
    call_command("activate_model", "old")
    model = ClassifierModel.objects.get(version="old")
    assert model.is_active and model.serving is not None
    assert serving.ServingModel.loads(bytes(model.serving)).labels


@pytest.mark.django_db
def test_a_serving_model_of_an_older_format_is_compiled_again(classifier_artifact: bytes, classifier_serving: bytes,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from triage.decide import active_model, forget_caches
    from triage.models import ClassifierModel

    monkeypatch.setattr(serving, "FORMAT", serving.FORMAT - 1)
    older = learning.compile_artifact(classifier_artifact).dumps()
    monkeypatch.undo()
    assert not serving.format_current(older) and serving.format_current(classifier_serving)
    ClassifierModel.objects.create(version="older", is_active=True, data_hash="x", artifact=classifier_artifact,
                                   serving=older)
    forget_caches()
    loaded = active_model()
    assert loaded is not None and isinstance(loaded[1], serving.ServingModel)
    stored = ClassifierModel.objects.get(version="older").serving
    assert stored is not None and serving.format_current(bytes(stored))
    forget_caches()
