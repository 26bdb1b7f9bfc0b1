"""Vectorised character n-gram TF-IDF for a fitted scikit-learn `TfidfVectorizer`.

scikit-learn's char analyzer builds every n-gram as a Python string and looks each one up
in a dict: for a 380-character report with 1–3-grams that is ~1,100 look-ups, about 0.6 ms,
as much as half of jieba's own time for the text. Here the text becomes an array of
dense character ids (one table look-up per character), every n-gram an integer computed
with array arithmetic, and the vocabulary a hash table of those integers looked up with
array operations (`IntTable`). The result is the same matrix the fitted vectorizer would produce
(counts, sublinear tf, idf, l2 norm), checked against it in the tests.

The word features (`TermIndex`) keep scikit-learn's analyzer and dictionary look-ups, but
count and weight the terms of a whole batch with array operations (scikit-learn builds,
sorts and normalises a matrix row by row), about half its time.

Training still uses scikit-learn's own `fit`; only `transform` takes these paths, and only
for configurations they reproduce exactly (otherwise `supports` / `supports_terms` say no
and the caller uses the vectorizer itself). These are the fitted pipeline's paths (training,
evaluation of a pipeline); serving uses `triage.serving`, which the char n-gram encoding
here also compiles into.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

# The n-gram encoding is serving's: char_ngram_entries reads the table built here.
from triage.serving import LENGTH_SHIFT, UNICODE, IntTable, char_ngram_entries, code_points, tfidf_entries


def supports(vectorizer: Any) -> bool:
    """True when `transform` below reproduces this fitted vectorizer exactly."""
    return (
        isinstance(vectorizer, TfidfVectorizer)
        and vectorizer.analyzer == "char"
        and not vectorizer.lowercase
        and vectorizer.preprocessor is None
        and vectorizer.strip_accents is None
        and vectorizer.norm in ("l2", None)
        and hasattr(vectorizer, "vocabulary_")
        and vectorizer.ngram_range[0] >= 1
    )


class _Weighting:
    """The counting-to-TF-IDF steps of a fitted vectorizer, for a whole batch at once."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        self.n_features = len(vectorizer.vocabulary_)
        self.binary = bool(vectorizer.binary)
        self.sublinear_tf = bool(vectorizer.sublinear_tf)
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64) if vectorizer.use_idf else None
        self.norm = vectorizer.norm

    def _matrix(self, n_rows: int, keys: np.ndarray, counts: np.ndarray) -> sp.csr_matrix:
        """The matrix from term counts, `keys` = row * n_features + column, sorted."""
        rows, columns, data = tfidf_entries(self, n_rows, keys, counts)
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        return sp.csr_matrix((data, columns, indptr), shape=(n_rows, self.n_features))


class CharNgramIndex(_Weighting):
    """The vocabulary of a fitted char vectorizer as sorted integer codes."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        super().__init__(vectorizer)
        vocabulary: dict[str, int] = vectorizer.vocabulary_
        grams = list(vocabulary)
        points = code_points("".join(grams))
        chars = np.unique(points)
        self.base = len(chars) + 1  # id 0: a character the vocabulary never saw
        self.min_n, self.max_n = vectorizer.ngram_range
        if self.base ** self.max_n >= 1 << LENGTH_SHIFT:
            raise ValueError("n-grams too long to encode as integers")
        self.lut = np.zeros(UNICODE, dtype=np.int64)
        self.lut[chars] = np.arange(1, len(chars) + 1)
        columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
        self.table = IntTable(self._encode_all(grams, self.lut[points]), columns)

    def _encode_all(self, grams: list[str], ids: np.ndarray) -> np.ndarray:
        """Each gram as an integer: its character ids as digits in base `base`, its length
        in the top bits. `ids` are the character ids of the grams joined. All grams at once
        (one at a time took ~0.2 s of a worker's start for a 250,000-gram vocabulary)."""
        lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
        starts = np.cumsum(lengths) - lengths
        codes = np.zeros(len(grams), dtype=np.int64)
        for k in range(int(lengths.max(initial=0))):
            longer = lengths > k
            codes[longer] = codes[longer] * self.base + ids[starts[longer] + k]
        return (lengths << LENGTH_SHIFT) | codes

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """The whole batch as one array: each text's character ids followed by a 0 (the id
        no vocabulary n-gram contains), so no n-gram spans two texts, and every array
        operation runs once per batch rather than once per text."""
        rows, columns = char_ngram_entries(texts, self.lut, self.base, (self.min_n, self.max_n), self.table)
        keys, counts = np.unique(rows * self.n_features + columns, return_counts=True)
        return self._matrix(len(texts), keys, counts)


def supports_terms(vectorizer: Any) -> bool:
    """True when `TermIndex` reproduces this fitted vectorizer: its analyzer is a function
    of the document (a list of tokens here), which scikit-learn passes through unchanged."""
    return (
        isinstance(vectorizer, TfidfVectorizer)
        and callable(vectorizer.analyzer)
        and vectorizer.input == "content"
        and vectorizer.norm in ("l2", None)
        and hasattr(vectorizer, "vocabulary_")
    )


class TermIndex(_Weighting):
    """TF-IDF of a fitted vectorizer with a callable analyzer (the words and word pairs of
    a segmented text). The analyzer's terms are looked up as scikit-learn does, but counted
    and weighted for the whole batch with array operations instead of one row at a time."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        super().__init__(vectorizer)
        self.analyzer = vectorizer.analyzer
        self.lookup = vectorizer.vocabulary_.get

    def transform(self, docs: list[Any]) -> sp.csr_matrix:
        lookup, found, sizes = self.lookup, [], []
        for doc in docs:
            columns = [column for column in map(lookup, self.analyzer(doc)) if column is not None]
            found.extend(columns)
            sizes.append(len(columns))
        row_ids = np.repeat(np.arange(len(docs), dtype=np.int64), sizes)
        keys, counts = np.unique(row_ids * self.n_features + np.asarray(found, dtype=np.int64), return_counts=True)
        return self._matrix(len(docs), keys, counts)


class WordPairIndex(_Weighting):
    """`TermIndex` for the analyzer of words followed by the pairs of adjacent words, each
    pair written "a b" (triage.classifier._words), without building the pairs as strings:
    each word becomes an integer id, each pair the integer id_a * n + id_b, and the
    vocabulary's pairs a hash table of those integers (`IntTable`). Building the
    pair strings was most of the word features' time.

    Exact while words contain no space (segmented text never does: normalisation removes
    whitespace); a batch with a spaced word goes through `TermIndex` instead."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        super().__init__(vectorizer)
        self.terms = TermIndex(vectorizer)
        words: dict[str, int] = {}
        unigrams: list[tuple[int, int]] = []
        pairs: list[tuple[int, int, int]] = []
        for term, column in vectorizer.vocabulary_.items():
            first, space, second = term.partition(" ")
            if space:
                pairs.append((words.setdefault(first, len(words)), words.setdefault(second, len(words)), column))
            else:
                unigrams.append((words.setdefault(term, len(words)), column))
        self.word_ids = words
        self.n_words = len(words) + 1
        self.unigram_columns = np.full(self.n_words, -1, dtype=np.int64)
        for word, column in unigrams:
            self.unigram_columns[word] = column
        table = np.asarray(pairs, dtype=np.int64).reshape(-1, 3)
        self.pairs = IntTable(table[:, 0] * self.n_words + table[:, 1], table[:, 2])

    def transform(self, docs: list[list[str]]) -> sp.csr_matrix:
        tokens = list(itertools.chain.from_iterable(docs))
        if " " in "".join(tokens):
            return self.terms.transform(docs)
        ids = np.fromiter(map(self.word_ids.get, tokens, itertools.repeat(-1)), dtype=np.int64, count=len(tokens))
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), [len(doc) for doc in docs])
        unigrams = self.unigram_columns[ids]  # an unknown word (-1) reads the last entry, -1
        known = unigrams >= 0
        left, right = ids[:-1], ids[1:]
        paired = (rows[:-1] == rows[1:]) & (left >= 0) & (right >= 0)
        hit, pair_columns = self.pairs.lookup(left[paired] * self.n_words + right[paired])
        keys = np.concatenate([
            rows[known] * self.n_features + unigrams[known],
            rows[:-1][paired][hit] * self.n_features + pair_columns[hit],
        ])
        keys, counts = np.unique(keys, return_counts=True)
        return self._matrix(len(docs), keys, counts)
