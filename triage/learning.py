"""The scikit-learn side of the classifier: the pipeline, its training, the fitted
pipeline's own predictions and explanations, and its compilation into the serving model
(`triage.serving`, numpy only) that the worker and web processes load.

Only training and evaluation import this module (and, once, a worker that finds a model
saved before serving models existed: it compiles it here).
"""

from __future__ import annotations

import io
import logging
import pickle
import zlib
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from triage import charvec
from triage.classifier import _READABLE_TERM, Prediction, _words, prepare_one, segmenter_signature
from triage.serving import (
    HASH_BASES,
    IntTable,
    ServingModel,
    SubstringHash,
    pack_coefficients,
    pack_idf,
    predictions,
    strongest_terms,
)

logger = logging.getLogger(__name__)


class Classifier:
    """A fitted pipeline plus what is needed to explain its decisions."""

    def __init__(self, pipeline: Pipeline, *, min_df_for_terms: int = 5) -> None:
        self.pipeline = pipeline
        self.min_df_for_terms = min_df_for_terms
        self._feature_names: Any = None  # built once: rebuilding it costs ~0.1 s a call
        self._weights: np.ndarray | None = None
        _coefficients_column_major(pipeline)

    @property
    def labels(self) -> list[str]:
        return [str(c) for c in self.pipeline.classes_]

    # Input to the pipeline is a pair: (tokens, content text), computed once per report.
    @staticmethod
    def prepare(texts: list[str]) -> list[tuple[list[str], str]]:
        return [prepare_one(text) for text in texts]

    def predict_prepared(self, prepared: list[tuple[list[str], str]]) -> list[str]:
        return [str(x) for x in self.pipeline.predict(prepared)]

    def predict(self, texts: list[str]) -> list[str]:
        return self.predict_prepared(self.prepare(texts))

    def explain(self, text: str, *, top: int = 3, terms: int = 6) -> Prediction:
        return self.explain_prepared(self.prepare([text]), top=top, terms=terms)[0]

    def explain_prepared(self, prepared: list[tuple[list[str], str]], *, top: int = 3, terms: int = 6) -> list[Prediction]:
        """Label, confidence, alternatives and driving terms for a batch of prepared texts:
        features are computed once and shared by the prediction and the explanation."""
        if not prepared:
            return []
        union: FeatureUnion = self.pipeline.named_steps["features"]
        x = union.transform(prepared).tocsr()
        proba = self.pipeline.named_steps["clf"].predict_proba(x)
        classes = self.pipeline.classes_
        # Row by row as before (np.argsort of each row, descending), for the whole batch at once.
        orders = np.argsort(proba, axis=1)[:, ::-1]
        best = orders[:, 0]
        top_terms = _top_terms_batch(x, self._term_weights(), best, self._names(), terms)
        return predictions([str(c) for c in classes], proba, orders, top_terms, top)

    def warm_up(self) -> None:
        """Build now what the first batch would otherwise build: the vectorised paths, the
        feature names and the term weights (a worker does this before taking tasks)."""
        self.explain_prepared([([], "")])

    def _word_vectorizer(self) -> TfidfVectorizer:
        union: FeatureUnion = self.pipeline.named_steps["features"]
        return union.transformer_list[0][1].vectorizer

    def _names(self) -> Any:
        """The word features' names by column (get_feature_names_out's array, built from the
        vocabulary by position: ~10x faster than its sort, ~0.1 s of a worker's start)."""
        if self._feature_names is None:
            vocabulary: dict[str, int] = self._word_vectorizer().vocabulary_
            names = np.empty(len(vocabulary), dtype=object)
            names[np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))] = list(vocabulary)
            self._feature_names = names
        return self._feature_names

    def _term_weights(self) -> np.ndarray | None:
        """Per class, the weight of each word feature towards it, zero for words seen in
        fewer than `min_df_for_terms` training reports (so no rare name is ever shown or
        stored). Computed once per loaded model."""
        if self._weights is None:
            words = self._word_vectorizer()
            n_words = len(words.idf_)
            coef = _word_coefficients(self.pipeline, n_words)
            if coef is None:
                self._weights = np.zeros((0, n_words))
            else:
                n_docs = getattr(self.pipeline, "n_train_docs_", 0)
                if n_docs:
                    df = (1 + n_docs) / np.exp(words.idf_ - 1) - 1
                    coef = coef * (df + 0.5 >= self.min_df_for_terms)
                # Folded digits ("0") and masked places ("某") mean nothing to a reader (only the
                # columns still weighted are looked at: a fraction of the vocabulary).
                names = self._names()
                hidden = [i for i in np.flatnonzero(np.any(coef != 0, axis=0)).tolist()
                          if _READABLE_TERM.search(str(names[i])) is None]
                coef = np.array(coef, copy=True)
                coef[:, hidden] = 0
                self._weights = coef
        return self._weights if self._weights.shape[0] else None

    def dumps(self) -> bytes:
        """The fitted pipeline as stored in the database: pickle, zlib-compressed. (joblib
        took ~3 s to load the vocabularies, pickle ~0.3 s: a worker starts that much sooner.)
        Artifacts are written and read only by this project's own commands."""
        return _ARTIFACT_MAGIC + zlib.compress(pickle.dumps(self.pipeline, protocol=pickle.HIGHEST_PROTOCOL), 6)

    @classmethod
    def loads(cls, data: bytes) -> Classifier:
        data = bytes(data)
        if data.startswith(_ARTIFACT_MAGIC):
            pipeline = pickle.loads(zlib.decompress(data[len(_ARTIFACT_MAGIC) :]))  # noqa: S301 - our own artifact
        else:
            pipeline = joblib.load(io.BytesIO(data))  # artifacts saved before the format changed
        trained_with, serving = getattr(pipeline, "segmenter_", None), segmenter_signature()
        if trained_with != serving:
            logger.warning("Classifier trained with segmenter %s, serving with %s: retrain it.", trained_with, serving)
        return cls(pipeline)


_ARTIFACT_MAGIC = b"QFCLF1\n"


def _coefficients_column_major(pipeline: Pipeline) -> None:
    """Store each NB-SVM's coefficients column-major (same values): `X @ coef_.T` hands
    scipy `coef_.T`, which is then contiguous; row-major, scipy copied it (features x
    classes, ~25 MB) on every prediction, most of predict_proba's time."""
    steps = getattr(pipeline, "named_steps", {})
    calibrated = steps.get("clf") if hasattr(steps, "get") else None
    for calibrated_classifier in getattr(calibrated, "calibrated_classifiers_", []):
        estimator = getattr(calibrated_classifier, "estimator", None)
        if isinstance(estimator, NBSVM) and hasattr(estimator, "coef_"):
            estimator.coef_ = np.asfortranarray(estimator.coef_)


def _word_coefficients(pipeline: Pipeline, n_word_features: int) -> np.ndarray | None:
    """Mean coefficients of the calibrated estimators over the word features (the first
    block of the feature union), one row per class."""
    calibrated = pipeline.named_steps["clf"]
    estimators = [c.estimator for c in getattr(calibrated, "calibrated_classifiers_", [])]
    if not estimators:
        return None
    coef = np.mean([np.asarray(e.coef_)[:, :n_word_features] for e in estimators], axis=0)
    if coef.shape[0] == 1:  # a binary model has one row: towards class 1, against class 0
        coef = np.vstack([-coef[0], coef[0]])
    return np.asarray(coef)


def _top_terms_batch(x: Any, weights: np.ndarray | None, classes: np.ndarray, names: Any, limit: int) -> list[list[str]]:
    """Per row of `x`, the word features that pushed it towards its class (`classes[row]`),
    strongest first (ties in column order), with one set of array operations for the batch."""
    n_rows = x.shape[0]
    if weights is None:
        return [[] for _ in range(n_rows)]
    row_of = np.repeat(np.arange(n_rows), np.diff(x.indptr))
    keep = x.indices < weights.shape[1]
    indices, row_of = x.indices[keep], row_of[keep]
    scores = x.data[keep] * weights[classes[row_of], indices]
    positive = scores > 0
    indices, row_of, scores = indices[positive], row_of[positive], scores[positive]
    rows, columns = strongest_terms(n_rows, row_of, indices, scores, limit)
    out: list[list[str]] = [[] for _ in range(n_rows)]
    for row, name in zip(rows, names[columns].tolist(), strict=True):
        out[row].append(str(name).replace(" ", ""))
    return out


class Part(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """Applies a vectorizer to one element of each prepared (tokens, text) pair."""

    def __init__(self, part: int = 0, vectorizer: TfidfVectorizer | None = None) -> None:
        self.part = part
        self.vectorizer = vectorizer

    def fit(self, X: Any, y: Any = None) -> Part:
        assert self.vectorizer is not None
        self.vectorizer.fit([x[self.part] for x in X])
        self.__dict__.pop("_fast", None)  # built again from the new vocabulary on first use
        return self

    def transform(self, X: Any) -> Any:
        assert self.vectorizer is not None
        texts = [x[self.part] for x in X]
        fast = self._fast_path()
        return fast.transform(texts) if fast is not None else self.vectorizer.transform(texts)

    def _fast_path(self) -> charvec.CharNgramIndex | charvec.TermIndex | charvec.WordPairIndex | None:
        """The vectorised path (same matrix: char n-grams ~10x faster, words and word pairs
        ~10x), built on first use."""
        if not hasattr(self, "_fast"):
            fast: charvec.CharNgramIndex | charvec.TermIndex | charvec.WordPairIndex | None = None
            vectorizer = self.vectorizer
            if charvec.supports(vectorizer):
                fast = charvec.CharNgramIndex(vectorizer)
            elif vectorizer is not None and charvec.supports_terms(vectorizer):
                fast = (charvec.WordPairIndex if vectorizer.analyzer is _words else charvec.TermIndex)(vectorizer)
            self._fast = fast
        return self._fast

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_fast", None)  # derived and large: never pickled into a model artifact
        return state


def build_pipeline() -> Pipeline:
    words = Part(0, TfidfVectorizer(analyzer=_words, lowercase=False, sublinear_tf=True, min_df=2, max_features=200_000))
    chars = Part(
        1,
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=False, sublinear_tf=True, min_df=2, max_features=250_000),
    )
    features = FeatureUnion([("words", words), ("chars", chars)])
    clf = CalibratedClassifierCV(NBSVM(C=1.0, alpha=1.0), method="sigmoid", cv=3, ensemble=False)
    return Pipeline([("features", features), ("clf", clf)])


class NBSVM(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """One-vs-rest linear SVMs on features scaled, per class, by the naive Bayes log-count
    ratio r = log((p/|p|) / (q/|q|)), p and q the smoothed counts of documents with the
    feature in and outside the class (Wang & Manning 2012). A feature's scaling folds into
    the weights, so the fitted model is linear in the unscaled features: `coef_` (one row per
    class, one for class 1 of a binary model) reads like LinearSVC's, and explanations use it
    as they are. Stratified 5-fold CV on the train split, macro-F1: 0.9293 against
    LinearSVC's 0.9259 (seed 42), 0.9330 against 0.9275 (seed 7)."""

    def __init__(self, C: float = 1.0, alpha: float = 1.0) -> None:
        self.C = C
        self.alpha = alpha

    def fit(self, X: Any, y: Any) -> NBSVM:
        labels = np.asarray(y)
        self.classes_ = np.unique(labels)
        x = sp.csr_matrix(X)
        present = x.copy()
        present.data = np.ones_like(present.data)
        targets = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        coef, intercept = [], []
        for target in targets:
            positive = labels == target
            ratio = self._log_count_ratio(present, positive)
            svm = self._fit_binary(x @ sp.diags(ratio), positive)
            coef.append(svm.coef_[0] * ratio)
            intercept.append(svm.intercept_[0])
        self.coef_ = np.vstack(coef)
        self.intercept_ = np.asarray(intercept)
        return self

    def _log_count_ratio(self, present: sp.csr_matrix, positive: np.ndarray) -> np.ndarray:
        """r of every feature for one class: `present` is 1 where a document has the feature."""
        p = self.alpha + self._feature_counts(present, positive)
        q = self.alpha + self._feature_counts(present, ~positive)
        return np.asarray(np.log((p / p.sum()) / (q / q.sum())))

    def _feature_counts(self, present: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        """How many of the documents selected by `rows` (a mask) have each feature."""
        return np.asarray(present[rows].sum(axis=0)).ravel()

    def _fit_binary(self, x: sp.csr_matrix, positive: np.ndarray) -> LinearSVC:
        return self._binary_svm().fit(x, positive.astype(int))

    def _binary_svm(self) -> LinearSVC:
        """The SVM of one class against the rest."""
        return LinearSVC(C=self.C)

    def decision_function(self, X: Any) -> np.ndarray:
        scores = np.asarray(X @ self.coef_.T) + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X: Any) -> np.ndarray:
        scores = self.decision_function(X)
        index = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return np.asarray(self.classes_[index])


def fit(texts: list[str], labels: list[str]) -> Classifier:
    prepared = Classifier.prepare(texts)
    pipeline = build_pipeline()
    pipeline.fit(prepared, labels)
    pipeline.n_train_docs_ = len(texts)  # type: ignore[attr-defined]
    pipeline.segmenter_ = segmenter_signature()  # type: ignore[attr-defined]
    return Classifier(pipeline)


# --- compiling a fitted pipeline into the serving model ------------------------------------


class CompileError(Exception):
    """A fitted pipeline the serving model does not reproduce exactly."""


def compile_model(classifier: Classifier) -> ServingModel:
    """The serving model of a fitted pipeline (`build_pipeline`'s, with the NB-SVM or an
    older LinearSVC): vocabularies as hash tables of integer codes, idf vectors, the
    coefficients column-major, the intercepts and sigmoid calibrations, the labels, and
    what explanations need (the terms' weights per class and the readable terms' names)."""
    pipeline = classifier.pipeline
    steps = getattr(pipeline, "named_steps", {})
    union, calibrated = steps.get("features"), steps.get("clf")
    if not isinstance(union, FeatureUnion) or not isinstance(calibrated, CalibratedClassifierCV):
        raise CompileError("not a feature union followed by a calibrated classifier")
    parts = [transformer for _, transformer in union.transformer_list]
    if union.transformer_weights or [type(p) for p in parts] != [Part, Part] or [p.part for p in parts] != [0, 1]:
        raise CompileError("not the word and character parts of build_pipeline")
    words, chars = parts[0].vectorizer, parts[1].vectorizer
    if not (charvec.supports_terms(words) and words.analyzer is _words):
        raise CompileError("the word features are not _words' unigrams and bigrams")
    if not charvec.supports(chars):
        raise CompileError("the character features are not a plain char n-gram vectorizer")
    n_words, n_chars = len(words.idf_), len(chars.idf_)
    labels = [str(label) for label in calibrated.classes_]
    arrays: dict[str, np.ndarray] = {}
    pack_idf(arrays, "word_idf", np.asarray(words.idf_, dtype=np.float64))
    pack_idf(arrays, "char_idf", np.asarray(chars.idf_, dtype=np.float64))
    meta: dict[str, Any] = {
        "labels": labels,
        "segmenter": getattr(pipeline, "segmenter_", None),
        "words": {**_weighting(words, offset=0), **_word_table(words, arrays)},
        "chars": {**_weighting(chars, offset=n_words), **_char_table(chars, arrays)},
        "members": _members(calibrated, n_words + n_chars, arrays),
        "explain": _explanations(classifier, n_words, arrays),
    }
    return ServingModel(meta, arrays)


def compile_artifact(data: bytes) -> ServingModel:
    """The serving model of a stored pipeline artifact (`Classifier.dumps`, or joblib)."""
    return compile_model(Classifier.loads(data))


def _weighting(vectorizer: TfidfVectorizer, *, offset: int) -> dict[str, Any]:
    return {
        "offset": offset,
        "n_features": len(vectorizer.vocabulary_),
        "binary": bool(vectorizer.binary),
        "sublinear_tf": bool(vectorizer.sublinear_tf),
        "use_idf": bool(vectorizer.use_idf),
        "norm": vectorizer.norm,
    }


def _word_table(vectorizer: TfidfVectorizer, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Every word and word-pair term by the hash of its string, in the first hash base under
    which no two terms of the vocabulary share a hash."""
    terms = list(vectorizer.vocabulary_)
    columns = np.fromiter(vectorizer.vocabulary_.values(), dtype=np.int64, count=len(terms))
    for base in HASH_BASES:
        keys = SubstringHash(base).of_terms(terms)
        if len(np.unique(keys)) == len(keys):
            break
    else:
        raise CompileError("word terms share a hash under every base")
    shift, size, slots, keys, values = IntTable(keys, columns).layout()
    arrays.update(word_table_slots=slots.astype(np.int32), word_table_keys=keys, word_table_values=values.astype(np.int32))
    return {"hash_base": base, "table": [shift, size]}


def _char_table(vectorizer: TfidfVectorizer, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The n-grams as charvec encodes them (character ids as digits, length on top)."""
    index = charvec.CharNgramIndex(vectorizer)
    shift, size, slots, keys, values = index.table.layout()
    arrays.update(
        char_points=np.flatnonzero(index.lut).astype(np.uint32),  # ids are 1.. in code point order
        char_table_slots=slots.astype(np.int32), char_table_keys=keys, char_table_values=values.astype(np.int32),
    )
    return {"ngram_range": [index.min_n, index.max_n], "table": [shift, size]}


def _members(calibrated: CalibratedClassifierCV, n_features: int, arrays: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Each calibrated classifier: its linear estimator's coefficients (features x outputs,
    C order: a row per feature, as a sparse-dense product reads them), intercepts, one
    sigmoid (a, b) per output, and the class index each output calibrates."""
    members = []
    sorted_classes = np.unique(calibrated.classes_)
    for i, calibrated_classifier in enumerate(getattr(calibrated, "calibrated_classifiers_", [])):
        estimator = calibrated_classifier.estimator
        if calibrated_classifier.method != "sigmoid" or not isinstance(estimator, NBSVM | LinearSVC):
            raise CompileError(f"member {i}: not a sigmoid-calibrated linear estimator")
        calibrators = list(calibrated_classifier.calibrators)
        if not all(isinstance(c, _SigmoidCalibration) for c in calibrators):
            raise CompileError(f"member {i}: not sigmoid calibrators")
        coef = np.asarray(estimator.coef_, dtype=np.float64)
        if coef.shape[1] != n_features or coef.shape[0] != len(calibrators):
            raise CompileError(f"member {i}: coefficients of shape {coef.shape}")
        pack_coefficients(arrays, f"coef_{i}", np.ascontiguousarray(coef.T))
        arrays[f"intercept_{i}"] = np.asarray(estimator.intercept_, dtype=np.float64).reshape(coef.shape[0])
        arrays[f"calibration_{i}"] = np.array([[float(c.a_), float(c.b_)] for c in calibrators], dtype=np.float64)
        # CalibratedClassifierCV: output k calibrates the class at the position of the
        # estimator's k-th class among the sorted classes (+1 for a binary model's single output).
        outputs = np.searchsorted(sorted_classes, estimator.classes_)[: coef.shape[0]]
        members.append({"classes": [int(c) for c in outputs], "shape": [n_features, coef.shape[0]]})
    if not members:
        raise CompileError("no calibrated classifier")
    return members


def _explanations(classifier: Classifier, n_words: int, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """What `Classifier._term_weights` and `_names` give, without copying the coefficients:
    per class, a column of the weights (the coefficients themselves, or their mean over the
    members when there are several) and a sign (a binary model's single output counts
    against class 0); a mask of the word features that may be shown (seen in at least
    `min_df_for_terms` training reports, readable); and those features' names."""
    pipeline = classifier.pipeline
    n_docs = getattr(pipeline, "n_train_docs_", 0)
    explainable = np.ones(n_words, dtype=bool)
    if n_docs:
        df = (1 + n_docs) / np.exp(classifier._word_vectorizer().idf_ - 1) - 1
        explainable &= df + 0.5 >= classifier.min_df_for_terms
    names = classifier._names()
    shown = [str(names[i]).replace(" ", "") if ok and _READABLE_TERM.search(str(names[i])) else ""
             for i, ok in enumerate(explainable.tolist())]
    explainable &= np.array([bool(name) for name in shown], dtype=bool)
    encoded = [name.encode() for name in shown]
    offsets = np.zeros(n_words + 1, dtype=np.int32)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int32, count=n_words), out=offsets[1:])
    arrays.update(explainable=explainable, name_offsets=offsets, names=np.frombuffer(b"".join(encoded), dtype=np.uint8))
    estimators = [c.estimator for c in pipeline.named_steps["clf"].calibrated_classifiers_]
    n_outputs = np.asarray(estimators[0].coef_).shape[0]
    if len(estimators) > 1:
        arrays["explain_weights"] = np.ascontiguousarray(_word_coefficients(pipeline, n_words).T)  # type: ignore[union-attr]
        return {"columns": list(range(len(classifier.labels))), "signs": [1.0] * len(classifier.labels)}
    if n_outputs == 1:  # binary: _word_coefficients' rows are -coef and coef
        return {"columns": [0, 0], "signs": [-1.0, 1.0]}
    return {"columns": list(range(n_outputs)), "signs": [1.0] * n_outputs}
