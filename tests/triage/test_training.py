"""Tests for the model lifecycle: train, evaluate, activate, roll back, learn from corrections."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.factories import submit
from triage.decide import active_model
from triage.models import Category, ClassifierModel, Correction, Department, StaffProfile
from triage.services import triage_correct, triage_reports
from triage.training import correction_examples

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_csv(tmp_path: Path, settings: Any) -> Path:
    import csv

    with Path(settings.TRAINING_CSV).open(encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    keep = rows[:: max(1, len(rows) // 900)]
    path = tmp_path / "small.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "label", "split"])
        writer.writeheader()
        for row in keep:
            writer.writerow({k: row[k] for k in ("id", "text", "label", "split")})
    return path


def test_train_evaluate_activate_and_roll_back(demo_org: None, small_csv: Path) -> None:
    out = StringIO()
    call_command("train_classifier", "--csv", str(small_csv), stdout=out)
    first = json.loads(out.getvalue().strip().splitlines()[-1])
    assert first["activated"] and 0 < first["macro_f1"] <= 1
    model = ClassifierModel.objects.get(version=first["version"])
    assert model.metrics["per_class"] and model.data_hash and model.training_seconds > 0

    out = StringIO()
    call_command("evaluate_classifier", str(small_csv), "--text-column", "text", "--label-column", "label",
                 "--where", "split=test", stdout=out)
    lines = out.getvalue().strip().splitlines()
    result = json.loads(lines[-1])
    assert {"macro_f1", "accuracy", "n", "per_second"} <= set(result)
    assert any("城乡建设" in line for line in lines[:-1])

    ClassifierModel.objects.create(version="older", metrics={"macro_f1": 0.5}, data_hash="x", artifact=model.artifact)
    call_command("activate_model", "older", stdout=StringIO())
    assert active_model() is not None and active_model()[0] == "older"  # type: ignore[index]
    call_command("activate_model", first["version"], stdout=StringIO())
    assert ClassifierModel.objects.filter(is_active=True).get().version == first["version"]


def test_a_worse_model_is_kept_but_not_activated(demo_org: None, small_csv: Path) -> None:
    ClassifierModel.objects.create(version="great", is_active=True, metrics={"macro_f1": 0.999}, data_hash="x", artifact=b"")
    out = StringIO()
    call_command("train_classifier", "--csv", str(small_csv), stdout=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1])["activated"] is False
    assert ClassifierModel.objects.get(is_active=True).version == "great"


def test_bad_arguments_fail_with_one_line(demo_org: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        call_command("train_classifier", "--csv", str(tmp_path / "missing.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(CommandError, match="missing column"):
        call_command("train_classifier", "--csv", str(bad))
    with pytest.raises(CommandError):
        call_command("activate_model", "nope")
    binary = tmp_path / "scan.csv"
    binary.write_bytes(b"text,label,split\n\xff\xfe\x00\x89PNG,x,train\n")
    with pytest.raises(CommandError, match="not UTF-8 text"):
        call_command("train_classifier", "--csv", str(binary))
    huge = tmp_path / "huge.csv"  # one field beyond the csv module's limit
    huge.write_text("text,label,split\n\"" + "长" * 200_000 + "\",x,train\n", encoding="utf-8")
    with pytest.raises(CommandError, match="not a readable CSV"):
        call_command("train_classifier", "--csv", str(huge))


def test_evaluating_a_file_that_is_not_text_fails_with_one_line(active_classifier: Any, tmp_path: Path) -> None:
    binary = tmp_path / "scan.csv"
    binary.write_bytes(b"text,label\n\xff\xfe\x00\x89PNG,x\n")
    with pytest.raises(CommandError, match="not UTF-8 text"):
        call_command("evaluate_classifier", str(binary), "--text-column", "text", "--label-column", "label")


def test_corrections_are_used_by_the_next_training(demo_org: None, active_classifier: Any, django_user_model: Any,
                                                  small_csv: Path) -> None:
    officer = django_user_model.objects.create_user("officer", password="x-password-123")
    officer.groups.add(Group.objects.get(name="triage_officer"))  # the service checks the role
    StaffProfile.objects.create(user=officer, department=Department.objects.get(code="379900-xf"))
    report = submit(body="这件事说的是一个特别的新问题：社区养老食堂的饭菜价格。", area_code="379901001001").report
    triage_reports([str(report.pk)])
    case = report.cases.get()
    triage_correct(case=case, user=officer, category=Category.objects.get(name="卫生计生"),
                   department=Department.objects.get(code="379901-wj"), reason="养老食堂归卫健委")
    assert Correction.objects.count() == 1
    examples = correction_examples()
    assert [(e.label, "养老食堂" in e.text) for e in examples] == [("卫生计生", True)]
    out = StringIO()
    call_command("train_classifier", "--csv", str(small_csv), stdout=out)
    version = json.loads(out.getvalue().strip().splitlines()[-1])["version"]
    assert ClassifierModel.objects.get(version=version).n_corrections == 1


def test_the_weekly_retraining_is_scheduled_and_skips_unchanged_data(demo_org: None, small_csv: Path, settings: Any) -> None:
    from celery.schedules import crontab

    from triage.tasks import retrain_classifier

    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "triage.tasks.retrain_classifier")
    assert isinstance(entry["schedule"], crontab)
    settings.TRAINING_CSV = str(small_csv)
    first = retrain_classifier()
    assert ClassifierModel.objects.get(is_active=True).version == first
    assert retrain_classifier() == first  # nothing new: no second model
    assert ClassifierModel.objects.count() == 1


def test_the_weekly_retraining_runs_when_the_segmentation_changed(demo_org: None, small_csv: Path, settings: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A new dictionary, stop-word list or HMM switch cuts text differently from what the
    active model learnt: the same examples are not "unchanged data"."""
    from triage import classifier
    from triage.tasks import retrain_classifier

    settings.TRAINING_CSV = str(small_csv)
    first = retrain_classifier()
    monkeypatch.setattr(classifier, "segmenter_signature", lambda: "another-dictionary")
    second = retrain_classifier()
    assert second and second != first and ClassifierModel.objects.count() == 2


def test_the_weekly_retraining_without_data_only_warns(demo_org: None, tmp_path: Path, settings: Any) -> None:
    from triage.tasks import retrain_classifier

    settings.TRAINING_CSV = str(tmp_path / "missing.csv")
    assert retrain_classifier() == ""
    assert not ClassifierModel.objects.exists()


def test_old_versions_are_pruned_but_keep_their_record(demo_org: None, settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    for age, version in enumerate(["v5", "v4", "v3", "v2", "v1"]):  # v1 the oldest
        ClassifierModel.objects.create(version=version, created_at=now - timedelta(days=age), is_active=version == "v1",
                                       metrics={"macro_f1": 0.9}, data_hash="h", artifact=b"artifact", serving=b"s")
    out = StringIO()
    call_command("prune_models", "--keep", "2", stdout=out)
    assert out.getvalue().strip() == "Pruned 2 version(s): v2, v3."  # oldest first
    kept = {m.version: m for m in ClassifierModel.objects.all()}
    assert len(kept) == 5  # rows, metrics and data hashes stay
    for version in ("v5", "v4", "v1"):  # the two newest and the active one
        assert kept[version].pruned_at is None and bytes(kept[version].artifact) == b"artifact"
    for version in ("v3", "v2"):
        assert kept[version].pruned_at is not None and bytes(kept[version].artifact) == b""
        assert kept[version].serving is None and kept[version].metrics == {"macro_f1": 0.9}
    with pytest.raises(CommandError, match=r"v3 was pruned on .*train a new one"):
        call_command("activate_model", "v3")
    assert ClassifierModel.objects.get(is_active=True).version == "v1"
    out = StringIO()
    call_command("prune_models", "--keep", "2", stdout=out)
    assert out.getvalue().strip() == "Nothing to prune."
    with pytest.raises(CommandError, match="at least 1"):
        call_command("prune_models", "--keep", "0")
    settings.CLASSIFIER_VERSIONS_KEPT = 0  # "keep every version": pruning needs an explicit --keep
    with pytest.raises(CommandError, match="give --keep N"):
        call_command("prune_models")
    assert ClassifierModel.objects.filter(pruned_at__isnull=True).count() == 3


def test_training_prunes_beyond_the_configured_versions(demo_org: None, small_csv: Path, settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    settings.CLASSIFIER_VERSIONS_KEPT = 1
    ClassifierModel.objects.create(version="old", created_at=timezone.now() - timedelta(days=7), metrics={},
                                   data_hash="h", artifact=b"artifact")
    out = StringIO()
    call_command("train_classifier", "--csv", str(small_csv), stdout=out)
    assert "Pruned the artifacts of 1 older version(s): old." in out.getvalue()
    new = json.loads(out.getvalue().strip().splitlines()[-1])["version"]
    assert ClassifierModel.objects.get(is_active=True).version == new
    assert ClassifierModel.objects.get(version="old").pruned_at is not None
    settings.CLASSIFIER_VERSIONS_KEPT = 0  # keeps everything
    call_command("train_classifier", "--csv", str(small_csv), stdout=StringIO())
    assert ClassifierModel.objects.filter(pruned_at__isnull=True).count() == 2
