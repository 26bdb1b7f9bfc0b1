"""Model families, ensembles and unlabelled-data methods for the category classifier,
compared by stratified 5-fold CV on the TRAIN split only, paired per fold against the
production model (calibrated NB-SVM), over several fold seeds.

    .venv/bin/python bench/classifier_models_cv.py [--seeds 42,7,2026] [--models nbsvm,nbsvm_bal,svm,...]
        [--ensembles "nbsvm_bal:0.7+svm:0.3,..."] [--out results.jsonl]

Every fold fits the production feature union (triage/classifier.py: jieba words 1-2-grams
+ char 1-3-grams, TF-IDF) on its training part, then each model; out-of-fold probabilities
are kept, so weighted ensembles (--ensembles "nbsvm_bal:0.7+svm:0.3") cost nothing more.
Scores per candidate: macro-F1 on the clean validation texts (mean and sd over folds),
on their simulated raw form and on their raw twins (both as in bench/classifier_cv.py),
and the paired per-fold difference from `nbsvm` (mean, sd, and how many folds improved).

Unlabelled board messages (messages_unlabelled.csv + messages_with_replies.csv, title +
body, exact duplicates dropped) are used by `self` (self-training: add the messages the
fold's NB-SVM labels with probability >= 0.9, refit) and `lsa` (a linear SVM on 300 LSA
dimensions fit on the fold's training part + the messages). A message is never used when
it near-duplicates a labelled TEST row (>= 30 % of the row's or the message's Chinese
character 4-grams shared; the test texts are read for this exclusion only) or, inside a
fold, a validation row of that fold.

Training-set variants: a model named `model@variant` is fitted on a changed copy of the
fold's training part (the features stay fitted on the part as it is); the variant's parts
are joined by "-":
- `drop_thr` / `drop_cl` leave out, `weight_thr` / `weight_cl` weight by 0.3 (in the naive
  Bayes ratios, the SVM loss and the calibration), the rows suspected of a wrong label.
  Suspects come from out-of-fold probabilities on the fold's training part: an inner
  stratified 5-fold of NB-SVMs on the outer fold's features, one sigmoid per class fitted
  on their out-of-fold decisions. `thr`: p(given label) < 0.15 and another class > 0.7.
  `cl`: confident learning (cleanlab's filter_by="confident_learning"): per-class
  thresholds = the mean p of the class over its rows, the row counted under the most
  probable class whose threshold it reaches, suspect when that is not its label and its
  label is not its most probable class either.
- `aug` adds a raw-like copy of every (kept) training row: cv.raw_like on the publisher's
  tokens, its own seed (4321; the evaluation's raw copies use 1234). The calibration folds
  (CalibratedClassifierCV's cv=3, otherwise unchanged) keep each copy in its original's
  fold, so no sigmoid is fitted on a decision from an SVM trained on that row's copy.
Each fold prints its suspects; the last lines summarise every candidate over all folds of
all seeds (delta mean and folds better: the figures an adoption is decided on).

Results of 2026-11-24 (clean-text macro-F1, mean of 5 folds; "delta" = paired difference
from nbsvm, mean over the 15 folds of the three seeds; twins n=204):

    candidate                 seed 42  seed 7  seed 2026  delta    folds better  twins (42)
    nbsvm (production)        0.9292   0.9334  0.9339     -        -             0.868
    nbsvm_bal                 0.9306   0.9343  0.9339     +0.0008  10/15         0.868
    nbsvm:0.7+svm:0.3         0.9317   0.9343  0.9338     +0.0009  -             0.867
    nbsvm_bal:0.7+svm:0.3     0.9324   0.9338  0.9342     +0.0013   9/15         0.867
    svm / cnb / lr alone      0.9239 / 0.8954 / 0.9170 (seed 42)
    self (threshold 0.9)      0.9318 (seed 42)                                   0.847
    self (threshold 0.7)      0.9277 (seed 42)                                   0.863
    nbsvm:0.85+lsa:0.15       0.9305 (seed 42)                                   0.876

Also tried with the same folds (not kept here): nbsvm C 0.3 / 3 (0.9297 / 0.9300), binary
l2-normalised features (0.9179), per-class log-probability offsets tuned on the other
folds (0.9284), and a 10-nearest-neighbour vote over the training TF-IDF rows blended at
0.15 (0.9320 / 0.9363 / 0.9338, +0.0019, 12/15 folds, twins 0.883 / 0.861 / 0.872: the most
consistent, but it keeps every training row's vector in the model). Every difference is
within the spread of the same model over fold seeds (0.9292 to 0.9339), so none was adopted.

Results of 2026-11-24, label-noise cleaning and raw-like augmentation (two runs of the
same folds; clean-text macro-F1 per seed; delta and folds better over the 15 folds; raw =
simulated raw texts; twins n=204 per seed, pooled over its folds; "bal" is nbsvm_bal), from

    --models nbsvm,nbsvm_bal,svm,nbsvm@drop_thr,nbsvm@drop_cl,nbsvm@weight_thr,nbsvm@weight_cl,nbsvm@aug,nbsvm@aug-drop_cl,
             nbsvm_bal@drop_cl,svm@drop_cl,nbsvm_bal@aug,svm@aug  (one argument, no spaces)
    --ensembles "nbsvm_bal:0.7+svm:0.3,nbsvm_bal@drop_cl:0.7+svm@drop_cl:0.3,nbsvm_bal@aug:0.7+svm@aug:0.3"
    --models nbsvm,nbsvm_bal,svm@aug,nbsvm_bal@weight_thr,svm@weight_thr,nbsvm_bal@aug-weight_thr,svm@aug-weight_thr
    --ensembles "nbsvm_bal@weight_thr:0.7+svm@weight_thr:0.3,nbsvm_bal@aug-weight_thr:0.7+svm@aug-weight_thr:0.3,
                 nbsvm_bal:0.7+svm@aug:0.3"  (one argument, no spaces)

(about 200 and 120 s a fold on one core):

    candidate                                     clean 42 / 7 / 2026   delta    better  raw 42 / 7 / 2026     twins 42/7/2026
    nbsvm                                         0.9292 0.9334 0.9339  +0.0000   0/15  0.9293 0.9345 0.9336  0.868 0.836 0.874
    bal                                           0.9306 0.9343 0.9339  +0.0008  10/15  0.9304 0.9346 0.9340  0.868 0.836 0.864
    svm                                           0.9239 0.9274 0.9263  -0.0063   3/15  0.9235 0.9269 0.9248  0.848 0.823 0.851
    nbsvm@drop_thr                                0.9259 0.9306 0.9297  -0.0034   2/15  0.9243 0.9318 0.9298  0.861 0.831 0.857
    nbsvm@drop_cl                                 0.9273 0.9321 0.9314  -0.0019   2/15  0.9264 0.9329 0.9311  0.859 0.835 0.858
    nbsvm@weight_thr                              0.9300 0.9328 0.9337  +0.0000   7/15  0.9299 0.9339 0.9326  0.865 0.836 0.864
    nbsvm@weight_cl                               0.9295 0.9334 0.9337  +0.0001   8/15  0.9284 0.9342 0.9332  0.868 0.836 0.861
    nbsvm@aug                                     0.9286 0.9329 0.9312  -0.0013   5/15  0.9281 0.9328 0.9318  0.868 0.839 0.873
    nbsvm@aug-drop_cl                             0.9252 0.9325 0.9297  -0.0030   3/15  0.9250 0.9323 0.9296  0.862 0.835 0.858
    bal@drop_cl                                   0.9268 0.9322 0.9308  -0.0022   2/15  0.9259 0.9335 0.9303  0.862 0.838 0.861
    svm@drop_cl                                   0.9215 0.9252 0.9236  -0.0087   0/15  0.9214 0.9246 0.9236  0.865 0.836 0.848
    bal@aug                                       0.9291 0.9333 0.9322  -0.0006   6/15  0.9286 0.9334 0.9324  0.868 0.836 0.874
    svm@aug                                       0.9245 0.9294 0.9282  -0.0048   4/15  0.9241 0.9285 0.9280  0.851 0.826 0.851
    bal:0.7+svm:0.3                               0.9324 0.9338 0.9342  +0.0013   9/15  0.9321 0.9333 0.9345  0.867 0.836 0.859
    bal@drop_cl:0.7+svm@drop_cl:0.3               0.9271 0.9318 0.9317  -0.0020   3/15  0.9266 0.9312 0.9326  0.859 0.838 0.861
    bal@aug:0.7+svm@aug:0.3                       0.9312 0.9353 0.9339  +0.0013  12/15  0.9317 0.9344 0.9346  0.880 0.836 0.868
    bal@weight_thr                                0.9297 0.9343 0.9343  +0.0006  11/15  0.9292 0.9347 0.9341  0.868 0.836 0.864
    svm@weight_thr                                0.9212 0.9262 0.9252  -0.0080   1/15  0.9210 0.9257 0.9242  0.835 0.833 0.844
    bal@aug-weight_thr                            0.9295 0.9333 0.9326  -0.0004   4/15  0.9290 0.9332 0.9323  0.871 0.836 0.864
    svm@aug-weight_thr                            0.9229 0.9286 0.9271  -0.0059   2/15  0.9230 0.9282 0.9271  0.848 0.819 0.848
    bal@weight_thr:0.7+svm@weight_thr:0.3         0.9306 0.9342 0.9337  +0.0007  10/15  0.9304 0.9342 0.9333  0.867 0.832 0.865
    bal@aug-weight_thr:0.7+svm@aug-weight_thr:0.3 0.9309 0.9343 0.9346  +0.0011  10/15  0.9312 0.9339 0.9351  0.880 0.836 0.868
    bal:0.7+svm@aug:0.3                           0.9327 0.9347 0.9335  +0.0015   9/15  0.9321 0.9346 0.9346  0.870 0.833 0.859

Suspects per fold (of 5,677 training rows): thr 104-124 (mean 114), cl 66-86 (mean 75,
73 of them also thr); most are labelled 城乡建设, 商贸旅游 or 劳动和社会保障. Those read (a
sample of one fold's) as boundary cases rather than mistakes (refuse burning or a
landfill's smell labelled 城乡建设, predicted 环境保护; a bus driver's licence labelled
城乡建设, predicted 交通运输), and the validation rows carry the same labelling: leaving
them out costs 0.0019 (cl) and 0.0034 (thr) in the mean, 2 of 15 folds better; weighting
them by 0.3 changes nothing (+0.0000, +0.0001). Raw-like training copies leave the clean
score a little lower (nbsvm -0.0013) and the simulated raw score where it was (the
normaliser already undoes what raw_like adds); twins: nbsvm +0.000 / +0.003 / -0.001, the
bal+svm stack +0.013 / +0.000 / +0.009. The stacks stay between +0.0007 and +0.0015 (the
plain bal:0.7+svm:0.3: +0.0013); bal@aug:0.7+svm@aug:0.3 is better on 12 of 15 folds,
by +0.0013 in the mean. None reaches the adoption rule (delta mean >= +0.003 and >= 12
of 15 folds better, twins not worse by more than 0.005): the model is unchanged.

Results of 2026-11-25, unlabelled messages over all three seeds (a one-off script on the
same folds, the same 6,935 messages and exclusions, clean-text macro-F1 only): `self`
(threshold 0.9, 1,750-2,420 messages added per fold) 0.9327 against nbsvm's 0.9322, delta
+0.0005, 6/15 folds better (seed 42 alone: +0.0033, +0.0026 in the first table's run;
seeds 7 and 2026 lose it); the TF-IDF vocabulary and idf fitted on the fold's training part plus
the messages, -0.0004, 6/15; both together +0.0012, 7/15. A learning curve on seed 42
(the production pipeline on 60 / 80 / 100 % of each fold's training part: 0.9181 / 0.9256
/ 0.9292) says more labelled rows would still help, but the messages' own labels cannot be
had: the government's replies (messages_with_replies.csv) name the handling bureau, and a
keyword vote over bureau names (住建, 人社, 教育局, 市场监管, 生态环境, 卫健, 交通运输 ...)
labels 110 of the 154 replies whose message near-duplicates a train row, 91 of them
rightly (83 %, below the model's own accuracy), so it was not taken further.

Results of 2026-11-25, nearest training rows (a one-off script on the same folds and the
production features, cosine similarity of the L2-normalised rows): 123 to 154 validation
rows a fold (about 10 %) have a training row at similarity >= 0.5, 87 to 112 at >= 0.8.
On them the production model is right as often as the nearest row's label (never more
than one row apart in a fold; 97 % of those rows), so taking that label (at 0.5 / 0.6 /
0.7 / 0.8) changes macro-F1 by -0.0001 / -0.0001 / 0.0000 / 0.0000: the split's
near-duplicates are not where the errors are. The k-nearest vote blended into the
probabilities again stays under the rule: k=10 at 0.15 +0.0014 (12/15), k=10 at 0.3
+0.0017 (11/15), k=5 at 0.2 +0.0017 (11/15).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
from sklearn.decomposition import TruncatedSVD
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.naive_bayes import ComplementNB
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import classifier_cv as cv  # noqa: E402
from triage import classifier as clf  # noqa: E402
from triage import learning  # noqa: E402

Prepared = list[tuple[list[str], str]]


class SampleWeightedNBSVM(learning.NBSVM):
    """The production NB-SVM taking row weights: each row counts `sample_weight` times in the
    naive Bayes ratios and in its SVMs' loss (the same model as NBSVM without weights)."""

    _weight: np.ndarray | None = None

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SampleWeightedNBSVM:
        self._weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        super().fit(X, y)
        return self

    def _feature_counts(self, present: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        if self._weight is None:
            return super()._feature_counts(present, rows)
        return np.asarray(present.T @ (self._weight * rows))

    def _fit_binary(self, x: sp.csr_matrix, positive: np.ndarray) -> LinearSVC:
        return self._binary_svm().fit(x, positive.astype(int), sample_weight=self._weight)


class WeightedNBSVM(SampleWeightedNBSVM):
    """NB-SVM whose one-vs-rest SVMs weight the classes (`class_weight` of LinearSVC)."""

    def __init__(self, C: float = 1.0, alpha: float = 1.0, class_weight: str | None = "balanced") -> None:
        super().__init__(C=C, alpha=alpha)
        self.class_weight = class_weight

    def _binary_svm(self) -> LinearSVC:
        return LinearSVC(C=self.C, class_weight=self.class_weight)


def calibrated(estimator: Any) -> CalibratedClassifierCV:
    return CalibratedClassifierCV(estimator, method="sigmoid", cv=3, ensemble=False)


MODELS: dict[str, Callable[[], Any]] = {
    "nbsvm": lambda: calibrated(learning.NBSVM(C=1.0)),  # production
    "nbsvm_C0.3": lambda: calibrated(learning.NBSVM(C=0.3)),
    "nbsvm_C3": lambda: calibrated(learning.NBSVM(C=3.0)),
    "nbsvm_bal": lambda: calibrated(WeightedNBSVM()),
    "svm": lambda: calibrated(LinearSVC(C=0.5)),
    "svm_bal": lambda: calibrated(LinearSVC(C=0.5, class_weight="balanced")),
    "cnb": lambda: calibrated(ComplementNB(alpha=0.1)),
    "lr": lambda: LogisticRegression(C=30, max_iter=2000),
}
# The same models, able to take row weights (a production NB-SVM cannot: it is swapped
# for SampleWeightedNBSVM when a training set has weights).
WEIGHTED_MODELS: dict[str, Callable[[], Any]] = {**MODELS, "nbsvm": lambda: calibrated(SampleWeightedNBSVM(C=1.0))}
SELF_TRAINING_THRESHOLD = 0.9
LSA_DIMENSIONS = 300
# Label-noise cleaning (training-set variants `drop_thr`, `drop_cl`, `weight_thr`, `weight_cl`):
# a training row is suspect when, by out-of-fold probabilities on the fold's training part,
# its given label is unlikely and another class confident (thr), or when confident learning
# puts it off the diagonal of the confident joint (cl).
SUSPECT_GIVEN_BELOW = 0.15
SUSPECT_OTHER_ABOVE = 0.7
SUSPECT_WEIGHT = 0.3
INNER_FOLDS = 5
AUGMENT_SEED = 4321  # the raw-like training copies; the evaluation's raw copies use 1234
VARIANT_PARTS = {"aug", "drop_thr", "drop_cl", "weight_thr", "weight_cl"}


def han_grams(text: str) -> set[str]:
    han = cv._han(text)
    return {han[k : k + 4] for k in range(max(1, len(han) - 3))}


def unlabelled_messages(train_rows: list[dict[str, str]], test_texts: list[str]) -> tuple[list[str], list[set[int]], int]:
    """Board messages (exact duplicates dropped, near-duplicates of test rows excluded), the
    train rows each near-duplicates, and how many were excluded for the test split."""
    messages: list[str] = []
    seen: set[str] = set()
    for name in ("messages_unlabelled.csv", "messages_with_replies.csv"):
        with (cv.DATA.parent / name).open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                text = f"{row['title']}\n{row['body']}"
                if text not in seen:
                    seen.add(text)
                    messages.append(text)
    index: dict[str, list[int]] = {}
    sizes: list[int] = []
    texts = [r["text"] for r in train_rows] + test_texts
    for i, text in enumerate(texts):
        grams = han_grams(text)
        sizes.append(len(grams))
        for gram in grams:
            index.setdefault(gram, []).append(i)
    kept: list[str] = []
    dup_of: list[set[int]] = []
    excluded = 0
    for message in messages:
        grams = han_grams(message)
        shared: dict[int, int] = {}
        for gram in grams:
            for i in index.get(gram, ()):
                shared[i] = shared.get(i, 0) + 1
        near = {i for i, n in shared.items() if n >= 0.3 * sizes[i] or n >= 0.3 * max(1, len(grams))}
        if any(i >= len(train_rows) for i in near):
            excluded += 1
            continue
        kept.append(message)
        dup_of.append(near)
    return kept, dup_of, excluded


class SelfTrained:
    """Fit, label the unlabelled messages, add the confident ones, fit again."""

    def __init__(self, make: Callable[[], Any], unlabelled: Any) -> None:
        self.make, self.unlabelled = make, unlabelled

    def fit(self, X: Any, y: Any) -> SelfTrained:
        first = self.make().fit(X, y)
        proba = first.predict_proba(self.unlabelled)
        keep = proba.max(axis=1) >= SELF_TRAINING_THRESHOLD
        self.model = self.make().fit(
            sp.vstack([X, self.unlabelled[keep]]).tocsr(), np.concatenate([y, first.classes_[proba[keep].argmax(axis=1)]])
        )
        self.classes_ = self.model.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.model.predict_proba(X))


class LSA:
    """A calibrated linear SVM on LSA dimensions learnt from training + unlabelled texts."""

    def __init__(self, unlabelled: Any) -> None:
        self.unlabelled = unlabelled

    def fit(self, X: Any, y: Any) -> LSA:
        self.svd = TruncatedSVD(LSA_DIMENSIONS, n_iter=4, random_state=0).fit(sp.vstack([X, self.unlabelled]).tocsr())
        self.model = calibrated(LinearSVC(C=1.0)).fit(normalize(self.svd.transform(X)), y)
        self.classes_ = self.model.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.model.predict_proba(normalize(self.svd.transform(X))))


def out_of_fold_proba(x: Any, y: np.ndarray, classes: np.ndarray, seed: int) -> np.ndarray:
    """Probabilities of each training row from NB-SVMs that did not see it (stratified
    INNER_FOLDS-fold, decision values), put through one sigmoid per class fitted on those
    out-of-fold decisions and normalised, as CalibratedClassifierCV(ensemble=False) does."""
    folds = StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed)
    scores = cross_val_predict(learning.NBSVM(C=1.0), x, y, cv=folds, method="decision_function")
    proba = np.column_stack(
        [_SigmoidCalibration().fit(scores[:, k], (y == c).astype(float)).predict(scores[:, k]) for k, c in enumerate(classes)]
    )
    return np.asarray(proba / proba.sum(axis=1, keepdims=True))


def suspects_by_threshold(proba: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Rows whose given class has p < SUSPECT_GIVEN_BELOW while another has p > SUSPECT_OTHER_ABOVE."""
    rows = np.arange(len(given))
    other = proba.copy()
    other[rows, given] = -1.0
    return np.asarray((proba[rows, given] < SUSPECT_GIVEN_BELOW) & (other.max(axis=1) > SUSPECT_OTHER_ABOVE))


def suspects_by_confident_learning(proba: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Confident learning (Northcutt et al. 2021; cleanlab's filter_by="confident_learning"):
    class j's threshold is the mean p_j over the rows labelled j; a row is counted under the
    most probable class whose threshold it reaches; it is suspect when that class is not
    its given one and the given one is not its most probable class either."""
    n_classes = proba.shape[1]
    thresholds = np.array([proba[given == j, j].mean() for j in range(n_classes)])
    above = proba >= thresholds - 1e-6 * thresholds
    confident = np.where(above, proba, -1.0).argmax(axis=1)
    counted = above.any(axis=1)
    return np.asarray(counted & (confident != given) & (proba.argmax(axis=1) != given))


def calibration_splits(y: np.ndarray, copies: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """CalibratedClassifierCV's own cv=3 (unshuffled stratified 3-fold) on the original rows;
    with `copies` (rows n.. 2n-1 copying rows 0.. n-1), each copy in its original's fold, so
    no row is calibrated by a model that trained on its copy."""
    n = len(y) // 2 if copies else len(y)
    splits = list(StratifiedKFold(3).split(np.zeros(n), y[:n]))
    if not copies:
        return splits
    return [(np.concatenate([a, a + n]), np.concatenate([b, b + n])) for a, b in splits]


def training_set(
    variant: str, x: Any, y: np.ndarray, x_aug: Any, suspects: dict[str, np.ndarray]
) -> tuple[Any, np.ndarray, np.ndarray | None, list[tuple[np.ndarray, np.ndarray]]]:
    """The rows, labels, weights (None: all 1) and calibration splits of a training-set
    variant: parts joined by "-" among VARIANT_PARTS ("" is the fold's training part as is)."""
    parts = set(filter(None, variant.split("-")))
    assert parts <= VARIANT_PARTS, variant
    keep = np.ones(len(y), dtype=bool)
    weight: np.ndarray | None = None
    for part in parts:
        kind, _, rule = part.partition("_")
        if kind == "drop":
            keep &= ~suspects[rule]
        elif kind == "weight":
            weight = np.where(suspects[rule], SUSPECT_WEIGHT, 1.0)
    x, y = x[keep], y[keep]
    weight = None if weight is None else weight[keep]
    if "aug" in parts:
        x = sp.vstack([x, x_aug[keep]]).tocsr()
        y = np.concatenate([y, y])
        weight = None if weight is None else np.concatenate([weight, weight])
    return x, y, weight, calibration_splits(y, "aug" in parts)


def parse_ensemble(spec: str) -> list[tuple[str, float]]:
    parts = [p.split(":") for p in spec.split("+")]
    return [(name, float(weight)) for name, weight in parts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="42,7,2026")
    parser.add_argument("--models", default="nbsvm,nbsvm_bal,svm,cnb")
    parser.add_argument("--ensembles", default="nbsvm:0.7+svm:0.3,nbsvm_bal:0.7+svm:0.3,nbsvm:0.8+cnb:0.2")
    parser.add_argument("--out", default="", help="append every result line (JSON) to this file too")
    args = parser.parse_args()
    models = args.models.split(",")
    assert models[0] == "nbsvm", "the first model is the reference"
    variants = {name.partition("@")[2] for name in models}
    variant_parts = {part for variant in variants for part in variant.split("-") if part}
    assert variant_parts <= VARIANT_PARTS, variant_parts - VARIANT_PARTS

    def report(line: dict[str, Any]) -> None:
        text = json.dumps(line, ensure_ascii=False)
        print(text, flush=True)
        if args.out:
            with open(args.out, "a", encoding="utf-8") as out:
                out.write(text + "\n")
    with cv.DATA.open(encoding="utf-8") as handle:
        all_rows = list(csv.DictReader(handle))
    rows = [r for r in all_rows if r["split"] == "train"]
    labels = np.array([r["label"] for r in rows])
    classes = np.unique(labels)
    fillers = cv.function_words()
    weights = [1 / (i + 5) for i in range(len(fillers))]
    rng = random.Random(1234)
    raw = [cv.raw_like(r["tokens"].split(), rng, fillers, weights) for r in rows]
    twins = cv.raw_twins(rows)
    started = time.perf_counter()
    clean_p: Prepared = learning.Classifier.prepare([r["text"] for r in rows])
    raw_p: Prepared = learning.Classifier.prepare(raw)
    twin_p = {i: clf.prepare_one(text) for i, text in twins.items()}
    augment_p: Prepared = []
    if "aug" in variant_parts:  # raw-like training copies, drawn apart from the evaluation's
        augment_rng = random.Random(AUGMENT_SEED)
        augment_p = learning.Classifier.prepare([cv.raw_like(r["tokens"].split(), augment_rng, fillers, weights) for r in rows])
    unlabelled: Prepared = []
    dup_of: list[set[int]] = []
    if {"self", "lsa"} & set(models):
        messages, dup_of, excluded = unlabelled_messages(rows, [r["text"] for r in all_rows if r["split"] == "test"])
        print(json.dumps({"unlabelled": len(messages), "excluded_as_test_duplicates": excluded}), flush=True)
        unlabelled = learning.Classifier.prepare(messages)
    report({"segmented_seconds": round(time.perf_counter() - started)})
    summary: dict[str, dict[str, list[Any]]] = {}

    for seed in [int(s) for s in args.seeds.split(",")]:
        n = len(labels)
        proba = {m: {"clean": np.zeros((n, len(classes))), "raw": np.zeros((n, len(classes)))} for m in models}
        twin_proba: dict[str, dict[int, np.ndarray]] = {m: {} for m in models}
        folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(labels, labels))
        for fold, (train, valid) in enumerate(folds):
            features = learning.build_pipeline().named_steps["features"]
            x_train = features.fit_transform([clean_p[i] for i in train]).tocsr()
            sets = {
                "clean": features.transform([clean_p[i] for i in valid]),
                "raw": features.transform([raw_p[i] for i in valid]),
            }
            twin_rows = [i for i in valid if i in twin_p]
            x_twins = features.transform([twin_p[i] for i in twin_rows])
            x_unlabelled = None
            if unlabelled:
                valid_set = set(valid.tolist())
                allowed = [u for u in range(len(unlabelled)) if not dup_of[u] & valid_set]
                x_unlabelled = features.transform([unlabelled[u] for u in allowed])
            x_augment = features.transform([augment_p[i] for i in train]).tocsr() if augment_p else None
            suspects: dict[str, np.ndarray] = {}
            if variant_parts & {"drop_thr", "drop_cl", "weight_thr", "weight_cl"}:
                given = np.searchsorted(classes, labels[train])
                inner = out_of_fold_proba(x_train, labels[train], classes, seed)
                suspects = {"thr": suspects_by_threshold(inner, given), "cl": suspects_by_confident_learning(inner, given)}
                report(
                    {
                        "seed": seed,
                        "fold": fold,
                        "training_rows": len(train),
                        "suspects_thr": int(suspects["thr"].sum()),
                        "suspects_cl": int(suspects["cl"].sum()),
                        "suspects_both": int((suspects["thr"] & suspects["cl"]).sum()),
                        "suspects_cl_by_given_class": {
                            str(c): int((suspects["cl"] & (given == k)).sum()) for k, c in enumerate(classes)
                        },
                    }
                )
            for name in models:
                base, _, variant = name.partition("@")
                if base in ("self", "lsa"):
                    assert not variant, "self and lsa take the fold's training part as is"
                if base == "self":
                    model: Any = SelfTrained(MODELS["nbsvm"], x_unlabelled).fit(x_train, labels[train])
                elif base == "lsa":
                    model = LSA(x_unlabelled).fit(x_train, labels[train])
                elif not variant:
                    model = clone(MODELS[name]()).fit(x_train, labels[train])
                else:
                    x_fit, y_fit, w_fit, splits = training_set(variant, x_train, labels[train], x_augment, suspects)
                    model = clone((MODELS if w_fit is None else WEIGHTED_MODELS)[base]())
                    if isinstance(model, CalibratedClassifierCV):
                        model.set_params(cv=splits)
                    model.fit(x_fit, y_fit, **({} if w_fit is None else {"sample_weight": w_fit}))
                assert list(model.classes_) == list(classes)
                for key, x in sets.items():
                    proba[name][key][valid] = model.predict_proba(x)
                for i, p in zip(twin_rows, model.predict_proba(x_twins), strict=True):
                    twin_proba[name][i] = p
            report({"seed": seed, "fold": fold, "done_seconds": round(time.perf_counter() - started)})

        def fold_scores(matrix: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]] = folds) -> np.ndarray:
            return np.array([f1_score(labels[v], classes[matrix[v].argmax(axis=1)], average="macro") for _, v in folds])

        candidates: dict[str, tuple[Any, Any]] = {m: (proba[m], twin_proba[m]) for m in models}
        for spec in filter(None, args.ensembles.split(",")):
            members = parse_ensemble(spec)
            if all(m in proba for m, _ in members):
                candidates[spec] = (
                    {k: sum(w * proba[m][k] for m, w in members) for k in ("clean", "raw")},
                    {i: sum(w * twin_proba[m][i] for m, w in members) for i in twin_proba[members[0][0]]},
                )
        reference = fold_scores(proba["nbsvm"]["clean"])
        for name, (p, tp) in candidates.items():
            clean, raw_scores = fold_scores(p["clean"]), fold_scores(p["raw"])
            delta = clean - reference
            ti = sorted(tp)
            twin_score = float(f1_score(labels[ti], classes[np.array([tp[i] for i in ti]).argmax(1)], average="macro"))
            line = {
                "seed": seed,
                "model": name,
                "clean": round(float(clean.mean()), 4),
                "sd": round(float(clean.std()), 4),
                "raw": round(float(raw_scores.mean()), 4),
                "twins": round(twin_score, 4),
                "delta_vs_nbsvm": [round(float(d), 4) for d in delta],
                "delta_mean": round(float(delta.mean()), 4),
                "folds_better": int((delta > 0).sum()),
            }
            report(line)
            kept = summary.setdefault(name, {"clean": [], "raw": [], "twins": [], "delta": []})
            for key in ("clean", "raw", "twins"):
                kept[key].append(line[key])
            kept["delta"].extend(delta.tolist())

    # Over every fold of every seed: the decision rule reads delta_mean and folds_better.
    for name, kept in summary.items():
        deltas = np.array(kept.pop("delta"))
        report(
            {
                "summary": name,
                **kept,
                "delta_mean": round(float(deltas.mean()), 4),
                "delta_sd": round(float(deltas.std()), 4),
                "folds_better": f"{int((deltas > 0).sum())}/{len(deltas)}",
            }
        )


if __name__ == "__main__":
    main()
