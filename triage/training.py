"""Training, evaluation and activation of the category classifier."""

from __future__ import annotations

import csv
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from intake.selectors import report_content
from triage import classifier as clf
from triage import learning
from triage.decide import forget_caches, load_place_words
from triage.models import ClassifierModel, Correction, CorrectionKind
from triage.serving import Model
from triage.serving import format_current as serving_format_current

logger = logging.getLogger(__name__)


class TrainingError(Exception):
    """Bad training input; the message is one line for the command line."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str


def read_csv(path: str | Path, *, text_column: str, label_column: str, title_column: str | None = None,
             where: dict[str, str] | None = None) -> list[Example]:
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: no such file")
    try:
        return _read_examples(path, text_column=text_column, label_column=label_column, title_column=title_column,
                              where=where)
    except UnicodeDecodeError as exc:
        raise TrainingError(f"{path}: not UTF-8 text (undecodable byte at offset {exc.start})") from exc
    except csv.Error as exc:
        raise TrainingError(f"{path}: not a readable CSV ({exc})") from exc


def _read_examples(path: Path, *, text_column: str, label_column: str, title_column: str | None,
                   where: dict[str, str] | None) -> list[Example]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        wanted = {text_column, label_column, *([title_column] if title_column else []), *(where or {})}
        missing = sorted(wanted - columns)
        if missing:
            raise TrainingError(f"{path}: missing column(s) {', '.join(missing)}; has {', '.join(sorted(columns))}")
        examples = []
        for row in reader:
            if where and any(row.get(k) != v for k, v in where.items()):
                continue
            text = row[text_column] or ""
            if title_column and row.get(title_column):
                text = f"{row[title_column]}\n{text}"
            if text.strip() and (row[label_column] or "").strip():
                examples.append(Example(text=text, label=row[label_column].strip()))
    return examples


def correction_examples() -> list[Example]:
    """The latest human category of every corrected case, with its text decrypted in memory.

    Cases of a split report are left out: each covers only part of the text, so its
    category is not a label for the whole of it."""
    latest: dict[int, Correction] = {}
    corrections = Correction.objects.filter(
        new_category__isnull=False, kind=CorrectionKind.CORRECT, case__split_from__isnull=True,
        case__splits__isnull=True,
    )
    for correction in corrections.select_related("new_category", "case__report").order_by("at"):
        latest[correction.case_id] = correction
    examples = []
    for correction in latest.values():
        content = report_content(correction.case.report)
        assert correction.new_category is not None
        examples.append(Example(text=f"{content.title}\n{content.body}", label=correction.new_category.model_label))
    return examples


def evaluate(classifier: Model, examples: list[Example]) -> dict[str, object]:
    if not examples:
        raise TrainingError("no examples to evaluate")
    load_place_words()  # segment as the worker does
    started = time.perf_counter()
    predicted = classifier.predict([e.text for e in examples])
    seconds = time.perf_counter() - started
    truth = [e.label for e in examples]
    labels = sorted(set(truth) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    per_class = {
        label: {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    present = [label for label in labels if per_class[label]["support"] > 0]
    macro = sum(per_class[label]["f1"] for label in present) / len(present)  # type: ignore[misc]
    return {
        "macro_f1": round(macro, 4),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "n": len(examples),
        "per_second": round(len(examples) / seconds, 1) if seconds else None,
        "per_class": per_class,
    }


def data_hash(examples: list[Example]) -> str:
    """What a model learnt from: its examples and how their text is cut (so a change of
    dictionary, stop words or HMM makes the weekly retraining run, not skip)."""
    digest = hashlib.sha256(clf.segmenter_signature().encode() + b"\x1d")
    for e in examples:
        digest.update(e.label.encode() + b"\x1f" + e.text.encode() + b"\x1e")
    return digest.hexdigest()


@dataclass(frozen=True)
class TrainingResult:
    model: ClassifierModel
    activated: bool
    previous_macro_f1: float | None
    pruned: tuple[str, ...] = ()


def train_and_register(*, csv_path: str | Path, limit: int | None = None, only_if_changed: bool = False) -> TrainingResult:
    """Train on the CSV's train split plus every human correction; evaluate on its test
    split; keep the model, and activate it only if it is not worse than the active one.
    With only_if_changed, nothing is trained when the active model saw the same data."""
    train = read_csv(csv_path, text_column="text", label_column="label", where={"split": "train"})
    test = read_csv(csv_path, text_column="text", label_column="label", where={"split": "test"})
    if limit:
        train, test = train[:limit], test[: max(1, limit // 4)]
    corrections = correction_examples()
    examples = train + corrections
    if len({e.label for e in examples}) < 2:
        raise TrainingError("need at least two categories to train")
    if only_if_changed:
        current = ClassifierModel.objects.filter(is_active=True).defer("artifact", "serving").first()
        if current is not None and current.data_hash == data_hash(examples):
            return TrainingResult(model=current, activated=False, previous_macro_f1=current.metrics.get("macro_f1"))
    load_place_words()  # the same jieba dictionary as the worker's: no train/serve skew
    started = time.perf_counter()
    classifier = learning.fit([e.text for e in examples], [e.label for e in examples])
    seconds = time.perf_counter() - started
    # Evaluated as it will serve: the compiled model (the tests check it decides as the pipeline).
    serving = learning.compile_model(classifier)
    metrics = evaluate(serving, test) if test else {}
    version = timezone.now().strftime("%Y%m%d-%H%M%S-") + data_hash(examples)[:8]
    active = ClassifierModel.objects.filter(is_active=True).only("metrics").first()
    previous = float(active.metrics.get("macro_f1", 0)) if active and active.metrics else None
    with transaction.atomic():
        model = ClassifierModel.objects.create(
            version=version,
            metrics=metrics,
            data_hash=data_hash(examples),
            n_train=len(train),
            n_corrections=len(corrections),
            training_seconds=round(seconds, 1),
            artifact=classifier.dumps(),
            serving=serving.dumps(),
        )
        activate_now = previous is None or float(metrics.get("macro_f1", 0)) >= previous  # type: ignore[arg-type]
        if activate_now:
            activate(model.version)
    pruned = prune_models(keep=settings.CLASSIFIER_VERSIONS_KEPT) if settings.CLASSIFIER_VERSIONS_KEPT > 0 else []
    return TrainingResult(model=model, activated=activate_now, previous_macro_f1=previous, pruned=tuple(pruned))


def prune_models(*, keep: int) -> list[str]:
    """Drop the artifacts of all but the `keep` newest versions and the active one; their
    rows (version, metrics, data hash, training time) stay. Returns the pruned versions,
    oldest first. Rollback reaches back as far as the kept versions."""
    if keep < 1:
        raise TrainingError("keep must be at least 1")
    rows = list(ClassifierModel.objects.filter(pruned_at__isnull=True)
                .order_by("-created_at", "-pk").values_list("pk", "is_active"))
    doomed = [pk for pk, active in rows[keep:] if not active]
    # Conditional on the row still being inactive and unpruned: a rollback that activates
    # one of them first keeps it; one that comes after finds it pruned and refuses.
    now = timezone.now()
    ClassifierModel.objects.filter(pk__in=doomed, is_active=False, pruned_at__isnull=True).update(
        artifact=b"", serving=None, pruned_at=now
    )
    versions = list(ClassifierModel.objects.filter(pk__in=doomed, pruned_at=now)
                    .order_by("created_at", "pk").values_list("version", flat=True))
    if versions:
        logger.info("Pruned the artifacts of %d classifier version(s): %s.", len(versions), ", ".join(versions))
    return versions


def activate(version: str) -> ClassifierModel:
    with transaction.atomic():
        model = ClassifierModel.objects.select_for_update().filter(version=version).first()
        if model is None:
            raise TrainingError(f"no model version {version}")
        if model.pruned_at is not None:
            raise TrainingError(
                f"model {version} was pruned on {timezone.localtime(model.pruned_at):%Y-%m-%d}: its artifact is gone; "
                "activate a kept version or train a new one"
            )
        if model.serving is None or not serving_format_current(bytes(model.serving)):  # compiled now, not by each worker
            try:
                model.serving = learning.compile_artifact(bytes(model.artifact)).dumps()
            except learning.CompileError as exc:
                logger.warning("Classifier %s cannot be compiled for serving (%s): served by scikit-learn.", version, exc)
            else:
                model.save(update_fields=["serving"])
        ClassifierModel.objects.filter(is_active=True).exclude(pk=model.pk).update(is_active=False)
        model.is_active = True
        model.save(update_fields=["is_active"])
    forget_caches()
    return model
