"""The serving classifier: the fitted pipeline compiled to plain numpy arrays.

The triage worker and the web processes classify and explain with this module alone: it
needs numpy, not scikit-learn or scipy (importing them cost ~1 s of every worker's and web
process's start, unpickling the pipeline ~0.5 s, and building its look-up tables from the
vocabularies ~0.3 s more). `triage.learning` compiles a fitted pipeline into this form at
the end of training; the tests check that it gives the pipeline's labels, probabilities
(to rounding), alternatives and explanation terms.

What it computes, as the pipeline does: word unigram and bigram TF-IDF and character
n-gram TF-IDF (sublinear tf, idf, each block l2-normalised), one linear score per class,
the per-class sigmoid calibration and its normalisation (CalibratedClassifierCV), and the
word features that pushed a text towards its class.

Stored form (`dumps`): a magic line, a JSON header (metadata, and each array's dtype, shape
and offset), then the arrays' raw bytes; `loads` maps them with `np.frombuffer` (no
parsing), so loading is the database read, filling two hash tables and unpacking the
coefficients (~20 ms).
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from triage.classifier import Prediction, prepare_one, segmenter_signature

logger = logging.getLogger(__name__)

MAGIC = b"QFSRV1\n"
# The arrays' layout; raise it whenever that changes. A stored model of another format is
# compiled again from its pipeline by the loader (triage.decide), like one saved before
# serving models.
FORMAT = 2
_ALIGN = 64
_WHITE_SPACES = re.compile(r"\s\s+")  # the same collapse scikit-learn's char analyzer does
LENGTH_SHIFT = 58  # a char n-gram's length kept in the top bits, so 2-grams never equal 3-grams
UNICODE = 0x110000

Prepared = Sequence[tuple[list[str], str]]


class StaleFormat(ValueError):
    """A serving model stored in another layout than this code reads."""


class Model(Protocol):
    """What triage needs of a classifier (the serving model, or the scikit-learn one for a
    stored model that could not be compiled)."""

    @property
    def labels(self) -> list[str]: ...

    def explain_prepared(self, prepared: list[tuple[list[str], str]], *, top: int = 3,
                         terms: int = 6) -> list[Prediction]: ...

    def predict(self, texts: list[str]) -> list[str]: ...

    def warm_up(self) -> None: ...


def format_current(data: bytes) -> bool:
    """Whether stored serving bytes are in the layout this code reads."""
    try:
        _header(data)
    except ValueError:
        return False
    return True


def _header(data: bytes) -> tuple[dict[str, Any], int]:
    """The header of stored serving bytes, and where the arrays start."""
    if not data.startswith(MAGIC):
        raise ValueError("not a serving model")
    size = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 8], "little")
    start = len(MAGIC) + 8
    header = json.loads(data[start : start + size])
    if header.get("format") != FORMAT:
        raise StaleFormat(f"serving model format {header.get('format')}, this code reads {FORMAT}")
    return header, start + size


def code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class TfidfSettings(Protocol):
    n_features: int
    binary: bool
    sublinear_tf: bool
    idf: np.ndarray | None
    norm: str | None


def tfidf_entries(settings: TfidfSettings, n_rows: int, keys: np.ndarray,
                  counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, weight) of every term of a batch from its counts (`keys` = row *
    n_features + column, sorted): the fitted vectorizer's tf, idf and l2 norm, the norm
    summed in column order within each row, as scikit-learn's normalize does."""
    rows, columns = np.divmod(keys, settings.n_features)
    if settings.binary:
        data = np.ones(len(counts), dtype=np.float64)
    elif settings.sublinear_tf:
        data = np.log(counts) + 1.0
    else:
        data = counts.astype(np.float64)
    if settings.idf is not None:
        data = data * settings.idf[columns]
    if settings.norm == "l2" and len(data):
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=n_rows))
        data = data / norms[rows]
    return rows, columns, data


def strongest_terms(n_rows: int, row_of: np.ndarray, indices: np.ndarray, scores: np.ndarray,
                    limit: int) -> tuple[list[int], list[int]]:
    """Of the (row, column, positive score) entries, the `limit` strongest of each row:
    their rows and columns by row, strongest first, ties in column order (stable)."""
    order = np.lexsort((-scores, row_of))
    row_of, indices = row_of[order], indices[order]
    starts = np.searchsorted(row_of, np.arange(n_rows))
    rank = np.arange(len(row_of)) - starts[row_of]
    chosen = rank < limit
    return row_of[chosen].tolist(), indices[chosen].tolist()


def char_ngram_entries(texts: Sequence[str], lut: np.ndarray, base: int, ngram_range: tuple[int, int],
                       table: IntTable) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every character n-gram occurrence of `texts` found in `table`: the
    batch as one array of character ids (`lut` maps a code point to its id, 0 for a
    character the vocabulary never saw), each text followed by a 0, so no n-gram spans two
    texts; an n-gram is its ids as digits in base `base`, its length in the top bits. Every
    array operation runs once per batch rather than once per text."""
    texts = [_WHITE_SPACES.sub(" ", text or "") for text in texts]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    ids = lut[code_points("\x00".join(texts))]
    ids[(np.cumsum(lengths + 1) - 1)[:-1]] = 0  # the separators, whatever "\x00" maps to
    row_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths + 1)
    rows: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
    columns: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
    min_n, max_n = ngram_range
    for n in range(min_n, max_n + 1):
        count = len(ids) - n + 1
        if count <= 0:
            break
        code = np.zeros(count, dtype=np.int64)
        known = np.ones(count, dtype=bool)
        for k in range(n):
            part = ids[k : k + count]
            code = code * base + part
            known &= part > 0
        code = code[known] | (n << LENGTH_SHIFT)
        hit, column = table.lookup(code)
        rows.append(row_of[:count][known][hit])
        columns.append(column[hit])
    return np.concatenate(rows), np.concatenate(columns)


def predictions(labels: list[str], proba: np.ndarray, orders: np.ndarray, top_terms: list[list[str]],
                top: int) -> list[Prediction]:
    """One Prediction per row of `proba` (`orders`: its columns, most probable first): the
    label, its probability, the next `top` labels with theirs, and the row's terms."""
    rows, order_rows = proba.tolist(), orders[:, : top + 1].tolist()
    return [
        Prediction(
            label=labels[order[0]],
            confidence=row[order[0]],
            alternatives=[(labels[i], round(row[i], 3)) for i in order[1:]],
            terms=row_terms,
        )
        for row, order, row_terms in zip(rows, order_rows, top_terms, strict=True)
    ]


class IntTable:
    """A fixed set of non-negative int64 keys with an integer value each, looked up for a
    whole array of queries at once: open addressing (Fibonacci hashing, linear probing, no
    wrap-around: the table ends with an empty slot) in a table about four times the number
    of keys, so most queries take one probe. Against `np.searchsorted` over the sorted keys
    (~18 dependent reads per query) several times faster for a batch's n-grams."""

    _MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
    _EMPTY = -1

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        keys, values = np.asarray(keys, dtype=np.int64), np.asarray(values, dtype=np.int64)
        bits = max(4, int(np.ceil(np.log2(max(1, len(keys)) * 4))))
        self.shift = np.uint64(64 - bits)
        home = self._home(keys)
        order = np.argsort(home)  # keys with the same home slot may go in any order
        # Inserted in order of their home slot, key i lands at max(home_i, slot of key i-1 + 1):
        # as a running maximum, max over j <= i of (home_j + i - j).
        rank = np.arange(len(keys))
        slots = np.maximum.accumulate(home[order] - rank) + rank if len(keys) else rank
        size = max(1 << bits, int(slots[-1]) + 2 if len(keys) else 1)  # at least one empty slot after the last key
        self.keys = np.full(size, self._EMPTY, dtype=np.int64)
        self.values = np.zeros(size, dtype=np.int64)
        self.keys[slots], self.values[slots] = keys[order], values[order]

    def layout(self) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
        """(shift, size, slots, keys, values): the filled slots only, to store."""
        slots = np.flatnonzero(self.keys != self._EMPTY)
        return int(self.shift), len(self.keys), slots, self.keys[slots], self.values[slots]

    @classmethod
    def from_layout(cls, shift: int, size: int, slots: np.ndarray, keys: np.ndarray, values: np.ndarray) -> IntTable:
        """The table `layout` described, without hashing or sorting anything again."""
        table = cls.__new__(cls)
        table.shift = np.uint64(shift)
        table.keys = np.full(size, cls._EMPTY, dtype=np.int64)
        table.values = np.zeros(size, dtype=values.dtype)
        table.keys[slots], table.values[slots] = keys, values
        return table

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.astype(np.uint64) * self._MULTIPLIER) >> self.shift).astype(np.int64)

    def lookup(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found, values): which queries are keys, and the value of each that is."""
        slot = self._home(queries)
        values = np.full(len(queries), -1, dtype=np.int64)
        found = np.zeros(len(queries), dtype=bool)
        active = np.arange(len(queries))
        while active.size:
            where = slot[active]
            keys = self.keys[where]
            hit = keys == queries[active]
            found[active[hit]] = True
            values[active[hit]] = self.values[where[hit]]
            active = active[~hit & (keys != self._EMPTY)]  # an empty slot ends the search
            slot[active] += 1
        return found, values


class SubstringHash:
    """Polynomial hashes (mod 2**64, odd `base`, the top bit dropped) of substrings given by start and end
    in one array of code points, all at once through prefix sums: the hash of [s, e) is
    (P[e] - P[s]) * base**(e-1), P the running sum of (code + 1) * base**-k. A word and a
    word pair are then both substrings of the batch's tokens joined by spaces ("a b" is
    exactly the pair's feature name), hashed without building a string per term.

    Not a cryptographic hash: distinct vocabulary terms are checked to hash apart when the
    model is compiled; an unknown term matches a vocabulary term's hash with probability
    about (vocabulary size) / 2**63."""

    def __init__(self, base: int) -> None:
        if base % 2 == 0:
            raise ValueError("the base must be odd (invertible mod 2**64)")
        self.base = base
        self._inverse = pow(base, -1, 1 << 64)
        self._powers: tuple[np.ndarray, np.ndarray] = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))

    def _powers_for(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        powers = self._powers
        if len(powers[0]) < n:
            size = max(n, 2 * len(powers[0]), 4096)
            up = np.full(size, self.base, dtype=np.uint64)
            down = np.full(size, self._inverse, dtype=np.uint64)
            up[0] = down[0] = 1
            powers = (np.multiply.accumulate(up), np.multiply.accumulate(down))  # wraps mod 2**64
            self._powers = powers  # one assignment: a concurrent reader sees old or new, both valid
        return powers

    def __call__(self, codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        n = len(codes)
        up, down = self._powers_for(n + 1)
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum((codes.astype(np.uint64) + np.uint64(1)) * down[:n], out=prefix[1:])
        hashes = (prefix[ends] - prefix[starts]) * up[np.maximum(ends - 1, 0)]
        return (hashes & np.uint64((1 << 63) - 1)).astype(np.int64)  # non-negative for IntTable

    def of_terms(self, terms: Sequence[str]) -> np.ndarray:
        """The hash of each whole string (as when it is a substring of a batch)."""
        lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
        starts = np.cumsum(lengths + 1) - (lengths + 1)
        return self(code_points("\x00".join(terms)), starts, starts + lengths)


# Bases tried in turn until the vocabulary's terms all hash apart (the first always has so far).
HASH_BASES = (0x9E3779B97F4A7C15 | 1, 0xC2B2AE3D27D4EB4F | 1, 0x165667B19E3779F9 | 1, 0xD6E8FEB86659FD93 | 1)


class _Block:
    """One TF-IDF block of the feature union: how counts become weights."""

    def __init__(self, meta: dict[str, Any], idf: np.ndarray) -> None:
        self.offset = int(meta["offset"])  # its first column in the union
        self.n_features = int(meta["n_features"])
        self.binary = bool(meta["binary"])
        self.sublinear_tf = bool(meta["sublinear_tf"])
        self.norm = meta["norm"]
        self.idf = idf if meta["use_idf"] else None

    def weigh(self, n_rows: int, rows: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row of each entry, column, weight), sorted by row and column, from the row and
        column of every term occurrence: the fitted vectorizer's tf, idf and l2 norm (the
        norm summed in column order within each row, as scikit-learn's normalize does)."""
        keys, counts = np.unique(rows * self.n_features + columns, return_counts=True)
        return tfidf_entries(self, n_rows, keys, counts)


class ServingModel:
    """Labels, calibrated probabilities, alternatives and driving terms of prepared texts
    (tokens, character text), from arrays only."""

    def __init__(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.meta, self.arrays = meta, arrays
        self._labels = [str(label) for label in meta["labels"]]
        words, chars = meta["words"], meta["chars"]
        self._words = _Block(words, unpack_idf(arrays, "word_idf"))
        self._chars = _Block(chars, unpack_idf(arrays, "char_idf"))
        self._hash = SubstringHash(int(words["hash_base"]))
        self._word_table = _table(words["table"], arrays, "word_table")
        self._char_table = _table(chars["table"], arrays, "char_table")
        points = arrays["char_points"]
        self._char_base = len(points) + 1  # id 0: a character the vocabulary never saw
        self._min_n, self._max_n = chars["ngram_range"]
        # Only the characters of the vocabulary are written: the rest of the table stays
        # untouched zero pages (calloc), so its 8.9 MB cost almost no memory.
        self._lut = np.zeros(UNICODE, dtype=np.int64)
        self._lut[points] = np.arange(1, len(points) + 1)
        self._members = [
            (unpack_coefficients(arrays, f"coef_{i}", member["shape"]), arrays[f"intercept_{i}"], arrays[f"calibration_{i}"],
             np.asarray(member["classes"]))
            for i, member in enumerate(meta["members"])
        ]
        explain = meta["explain"]
        self._explain_weights = arrays.get("explain_weights")
        self._explain_columns = np.asarray(explain["columns"], dtype=np.int64)  # per class: its column of the weights
        self._explain_signs = np.asarray(explain["signs"], dtype=np.float64)
        self._explainable = arrays["explainable"]
        self._name_offsets = arrays["name_offsets"]
        self._names = arrays["names"].tobytes()

    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    # --- storage -------------------------------------------------------------------------

    def dumps(self) -> bytes:
        header: dict[str, Any] = {"format": FORMAT, "meta": self.meta, "arrays": {}}
        chunks: list[bytes] = []
        offset = 0
        for name, array in self.arrays.items():
            array = np.ascontiguousarray(array)
            header["arrays"][name] = [array.dtype.str, list(array.shape), offset]
            data = array.tobytes()
            chunks.append(data + b"\0" * (-len(data) % _ALIGN))
            offset += len(chunks[-1])
        head = json.dumps(header, ensure_ascii=False).encode()
        head += b" " * (-(len(MAGIC) + 8 + len(head)) % _ALIGN)
        return b"".join([MAGIC, len(head).to_bytes(8, "little"), head, *chunks])

    @classmethod
    def loads(cls, data: bytes) -> ServingModel:
        """The model `dumps` stored; its arrays are read-only views of `data`."""
        header, base = _header(data)
        arrays = {
            name: np.frombuffer(data, dtype=np.dtype(dtype), count=int(np.prod(shape, dtype=np.int64)),
                                offset=base + offset).reshape(shape)
            for name, (dtype, shape, offset) in header["arrays"].items()
        }
        model = cls(header["meta"], arrays)
        trained_with, serving = header["meta"].get("segmenter"), segmenter_signature()
        if trained_with != serving:
            logger.warning("Classifier trained with segmenter %s, serving with %s: retrain it.", trained_with, serving)
        return model

    # --- features ------------------------------------------------------------------------

    def _word_entries(self, docs: Sequence[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of every word and word-pair feature occurrence. The batch's tokens
        are joined by spaces: a word is its own substring, a pair "a b" the substring from
        the start of a to the end of b, so each term is one hash (tokens containing a space,
        which segmentation never yields, still hash as the string scikit-learn would build)."""
        sizes = [len(doc) for doc in docs]
        tokens = list(itertools.chain.from_iterable(docs))
        if not tokens:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        starts = np.cumsum(lengths + 1) - (lengths + 1)
        ends = starts + lengths
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), sizes)
        paired = rows[:-1] == rows[1:]
        codes = code_points(" ".join(tokens))
        hashes = self._hash(codes, np.concatenate([starts, starts[:-1][paired]]), np.concatenate([ends, ends[1:][paired]]))
        found, columns = self._word_table.lookup(hashes)
        term_rows = np.concatenate([rows, rows[:-1][paired]])
        return term_rows[found], columns[found]

    def _char_entries(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        return char_ngram_entries(texts, self._lut, self._char_base, (self._min_n, self._max_n), self._char_table)

    def features(self, prepared: Prepared) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The union's TF-IDF rows as CSR arrays (indptr, columns, data), words then
        characters within each row, as the feature union stacks them."""
        n_rows = len(prepared)
        word_rows, word_columns, word_data = self._words.weigh(n_rows, *self._word_entries([p[0] for p in prepared]))
        char_rows, char_columns, char_data = self._chars.weigh(n_rows, *self._char_entries([p[1] for p in prepared]))
        n_words = np.bincount(word_rows, minlength=n_rows)
        n_chars = np.bincount(char_rows, minlength=n_rows)
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(n_words + n_chars, out=indptr[1:])
        word_starts = np.cumsum(n_words) - n_words
        char_starts = np.cumsum(n_chars) - n_chars
        # Each entry's place in the stacked row: after the row's start (and its words, for a character).
        word_at = indptr[word_rows] + np.arange(len(word_rows)) - word_starts[word_rows]
        char_at = indptr[char_rows] + n_words[char_rows] + np.arange(len(char_rows)) - char_starts[char_rows]
        columns = np.empty(indptr[-1], dtype=np.int64)
        data = np.empty(indptr[-1], dtype=np.float64)
        columns[word_at], data[word_at] = word_columns + self._words.offset, word_data
        columns[char_at], data[char_at] = char_columns + self._chars.offset, char_data
        return indptr, columns, data

    # --- the calibrated linear model -----------------------------------------------------

    def probabilities(self, indptr: np.ndarray, columns: np.ndarray, data: np.ndarray) -> np.ndarray:
        """CalibratedClassifierCV.predict_proba: per member, the estimator's scores, each
        class's sigmoid, normalised to sum to one (binary: the positive class's sigmoid and
        its complement); the members' mean."""
        n_rows, n_classes = len(indptr) - 1, len(self._labels)
        mean = np.zeros((n_rows, n_classes))
        for coef, intercept, calibration, classes in self._members:
            scores = _row_sums(indptr, data[:, None] * coef[columns], coef.shape[1]) + intercept
            proba = np.zeros((n_rows, n_classes))
            for k, class_index in enumerate(classes.tolist()):
                a, b = calibration[k]
                proba[:, class_index + (1 if n_classes == 2 else 0)] = 1.0 / (1.0 + np.exp(a * scores[:, k] + b))
            if n_classes == 2:
                proba[:, 0] = 1.0 - proba[:, 1]
            else:
                denominator = np.sum(proba, axis=1)[:, np.newaxis]
                uniform = np.full_like(proba, 1 / n_classes)
                proba = np.divide(proba, denominator, out=uniform, where=denominator != 0)
            proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
            mean += proba
        mean /= len(self._members)
        return mean

    # --- the classifier's interface --------------------------------------------------------

    @staticmethod
    def prepare(texts: list[str]) -> list[tuple[list[str], str]]:
        return [prepare_one(text) for text in texts]

    def predict_proba(self, prepared: Prepared) -> np.ndarray:
        return self.probabilities(*self.features(prepared))

    def predict_prepared(self, prepared: Prepared) -> list[str]:
        if not prepared:
            return []
        return [self._labels[i] for i in np.argmax(self.predict_proba(prepared), axis=1).tolist()]

    def predict(self, texts: list[str]) -> list[str]:
        return self.predict_prepared(self.prepare(texts))

    def explain(self, text: str, *, top: int = 3, terms: int = 6) -> Prediction:
        return self.explain_prepared(self.prepare([text]), top=top, terms=terms)[0]

    def explain_prepared(self, prepared: Prepared, *, top: int = 3, terms: int = 6) -> list[Prediction]:
        """Label, confidence, alternatives and driving terms for a batch of prepared texts:
        features are computed once and shared by the prediction and the explanation."""
        if not prepared:
            return []
        indptr, columns, data = self.features(prepared)
        proba = self.probabilities(indptr, columns, data)
        orders = np.argsort(proba, axis=1)[:, ::-1]
        top_terms = self._top_terms(indptr, columns, data, orders[:, 0], terms)
        return predictions(self._labels, proba, orders, top_terms, top)

    def warm_up(self) -> None:
        """Run the code paths once (nothing is built: the tables were filled at load)."""
        self.explain_prepared([([], "")])

    def _top_terms(self, indptr: np.ndarray, columns: np.ndarray, data: np.ndarray, classes: np.ndarray,
                   limit: int) -> list[list[str]]:
        """Per row, the word features that pushed it towards its class (`classes[row]`),
        strongest first (ties in column order): a feature's score is its TF-IDF value times
        its coefficient for the class, zero for words seen in fewer than the minimum number
        of training reports and for unreadable terms (folded digits, masked places)."""
        n_rows = len(indptr) - 1
        if not len(self._explain_columns):
            return [[] for _ in range(n_rows)]
        row_of = np.repeat(np.arange(n_rows), np.diff(indptr))
        keep = columns < self._words.offset + self._words.n_features  # the word block
        indices, row_of = columns[keep] - self._words.offset, row_of[keep]
        chosen_class = classes[row_of]
        weights = self._explain_weights if self._explain_weights is not None else self._members[0][0]
        coefficient = weights[indices, self._explain_columns[chosen_class]] * self._explain_signs[chosen_class]
        scores = data[keep] * (coefficient * self._explainable[indices])
        positive = scores > 0
        indices, row_of, scores = indices[positive], row_of[positive], scores[positive]
        out: list[list[str]] = [[] for _ in range(n_rows)]
        offsets, names = self._name_offsets, self._names
        for row, column in zip(*strongest_terms(n_rows, row_of, indices, scores, limit), strict=True):
            out[row].append(names[offsets[column] : offsets[column + 1]].decode())
        return out


# Stored compactly, as the database read is most of a model's load time (~3 ms per MB
# here): the coefficients' non-zero values and a bit mask of where they are (about half of
# the NB-SVM's coefficients are zero), each idf vector as its ~1,000 distinct values and an
# index into them. Exact: unpacking gives the same values.


def pack_coefficients(arrays: dict[str, np.ndarray], name: str, coef: np.ndarray) -> None:
    nonzero = coef != 0
    arrays[f"{name}_mask"] = np.packbits(nonzero.ravel())
    arrays[f"{name}_values"] = coef[nonzero]


def unpack_coefficients(arrays: dict[str, np.ndarray], name: str, shape: list[int]) -> np.ndarray:
    """The coefficients, C order (a row per feature, as the scores gather them)."""
    coef = np.zeros(int(np.prod(shape)), dtype=np.float64)
    coef[np.unpackbits(arrays[f"{name}_mask"], count=coef.size).view(bool)] = arrays[f"{name}_values"]
    return coef.reshape(shape)


def pack_idf(arrays: dict[str, np.ndarray], name: str, idf: np.ndarray) -> None:
    values, index = np.unique(idf, return_inverse=True)
    arrays[f"{name}_values"] = values
    arrays[f"{name}_index"] = index.astype(np.uint16 if len(values) <= 1 << 16 else np.uint32)


def unpack_idf(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    return arrays[f"{name}_values"][arrays[f"{name}_index"]]


def _table(shape: list[int], arrays: dict[str, np.ndarray], name: str) -> IntTable:
    shift, size = shape
    return IntTable.from_layout(shift, size, arrays[f"{name}_slots"], arrays[f"{name}_keys"], arrays[f"{name}_values"])


def _row_sums(indptr: np.ndarray, values: np.ndarray, width: int) -> np.ndarray:
    """Sum of each row's entries (`values`, one line per entry, in row order), added one
    after the other as a sparse-dense product does; zero for an empty row."""
    n_rows = len(indptr) - 1
    out = np.zeros((n_rows, width))
    filled = np.flatnonzero(np.diff(indptr) > 0)
    if len(filled):
        out[filled] = np.add.reduceat(values, indptr[filled], axis=0)
    return out
