"""The vectorised char n-gram path gives the matrix scikit-learn's vectorizer gives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from triage import charvec
from triage.classifier import _words  # the word analyzer of the model: words and word pairs

TRAIN = [
    "东城区文化路小区楼道堆放杂物，存在消防隐患",
    "出租车司机拒载绕路，不打表乱收费",
    "餐馆油烟直排，噪音扰民到深夜",
    "单位拖欠农民工工资半年，老板避而不见",
    "路灯坏了没人修，晚上出行很危险",
] * 3
UNSEEN = ["楼道杂物没人清理，消防通道堵塞", "", "ＡＢＣ 𠀀罕见字 and   spaces\t\n全角", "拖欠工资", "x"]


@pytest.mark.parametrize(
    "options",
    [
        {"ngram_range": (1, 3), "sublinear_tf": True, "min_df": 2},
        {"ngram_range": (2, 4), "sublinear_tf": False},
        {"ngram_range": (1, 2), "binary": True, "norm": None},
        {"ngram_range": (1, 3), "use_idf": False, "max_features": 40},
    ],
)
def test_the_fast_path_gives_the_same_matrix(options: dict[str, object]) -> None:
    vectorizer = TfidfVectorizer(analyzer="char", lowercase=False, **options).fit(TRAIN)  # type: ignore[arg-type]
    assert charvec.supports(vectorizer)
    fast = charvec.CharNgramIndex(vectorizer).transform(TRAIN + UNSEEN)
    slow = vectorizer.transform(TRAIN + UNSEEN)
    assert fast.shape == slow.shape
    assert np.abs((fast - slow).toarray()).max() < 1e-12


def test_texts_of_a_batch_never_share_an_n_gram() -> None:
    """The batch is one array with a separator between texts: an n-gram across two texts
    (or one containing the separator's own character, inside a text) must not appear."""
    train = [*TRAIN, "甲\x00乙", "甲\x00乙", "丙丁", "丙丁"]
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=False, min_df=1).fit(train)
    texts = ["甲", "\x00乙", "丙", "丁", "甲\x00乙丙丁", "", "丙"]
    fast = charvec.CharNgramIndex(vectorizer).transform(texts)
    assert np.abs((fast - vectorizer.transform(texts)).toarray()).max() < 1e-12


def test_each_gram_of_the_vocabulary_is_encoded_as_its_digits() -> None:
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=False).fit(TRAIN + UNSEEN)
    index = charvec.CharNgramIndex(vectorizer)

    def encode(gram: str) -> int:  # one gram at a time, the plain way
        value = 0
        for ch in gram:
            value = value * index.base + int(index.lut[ord(ch)])
        return (len(gram) << 58) | value

    expected = sorted((encode(gram), column) for gram, column in vectorizer.vocabulary_.items())
    stored = index.table.keys != -1
    assert sorted(zip(index.table.keys[stored].tolist(), index.table.values[stored].tolist(), strict=True)) == expected
    found, columns = index.table.lookup(np.asarray([code for code, _column in expected], dtype=np.int64))
    assert found.all() and columns.tolist() == [column for _code, column in expected]
    assert all(index.lut[ord(ch)] > 0 for gram in vectorizer.vocabulary_ for ch in gram)


@pytest.mark.parametrize("n", [0, 1, 7, 1000, 20_000])
def test_the_integer_table_finds_every_key_and_nothing_else(n: int) -> None:
    rng = np.random.default_rng(n)
    keys = np.unique(rng.integers(0, 1 << 62, size=n))
    # Keys that share a home slot, and runs of adjacent keys, probe past each other.
    keys = np.unique(np.concatenate([keys, np.arange(100, 100 + min(n, 300)), keys[: n // 10] + (1 << 40)]))
    values = rng.integers(0, 1 << 40, size=len(keys))
    table = charvec.IntTable(keys, values)
    found, got = table.lookup(keys)
    assert found.all() and np.array_equal(got, values)
    others = np.setdiff1d(rng.integers(0, 1 << 62, size=5000), keys)
    found, got = table.lookup(np.concatenate([others, keys[:50]]))
    assert not found[: len(others)].any() and found[len(others) :].all()
    assert np.array_equal(got[len(others) :], values[:50]) and (got[: len(others)] == -1).all()


def test_configurations_it_cannot_reproduce_use_scikit_learn() -> None:
    assert not charvec.supports(TfidfVectorizer(analyzer="char", lowercase=True).fit(TRAIN))
    assert not charvec.supports(TfidfVectorizer(analyzer="word").fit(TRAIN))
    assert not charvec.supports(TfidfVectorizer(analyzer="char"))  # not fitted


WORDS = [text.replace("，", " ，").split() + list(text[:6]) for text in TRAIN]
UNSEEN_WORDS = [["楼道", "杂物", "没人", "清理", "楼道", "杂物"], [], ["从未", "见过"], ["拖欠", "工资", "拖欠"]]


@pytest.mark.parametrize(
    "options",
    [
        {"sublinear_tf": True, "min_df": 2},
        {"sublinear_tf": False},
        {"binary": True, "norm": None},
        {"use_idf": False, "max_features": 30},
    ],
)
def test_the_word_path_gives_the_same_matrix(options: dict[str, object]) -> None:
    vectorizer = TfidfVectorizer(analyzer=_words, lowercase=False, **options).fit(WORDS)  # type: ignore[arg-type]
    assert charvec.supports_terms(vectorizer) and not charvec.supports(vectorizer)
    docs = WORDS + UNSEEN_WORDS
    slow = vectorizer.transform(docs)
    for index in (charvec.TermIndex(vectorizer), charvec.WordPairIndex(vectorizer)):
        fast = index.transform(docs)
        assert fast.shape == slow.shape
        assert np.abs((fast - slow).toarray()).max() < 1e-12
        assert index.transform([]).shape == (0, slow.shape[1])
        assert index.transform([[], []]).nnz == 0
    # A word with a space (never from segmentation) would make its pairs ambiguous.
    spaced = [["楼道 杂物", "没人"], ["楼道", "杂物"]]
    assert np.abs((charvec.WordPairIndex(vectorizer).transform(spaced) - vectorizer.transform(spaced)).toarray()).max() < 1e-12


def test_the_classifier_takes_the_fast_paths_and_predicts_the_same(active_classifier: Any) -> None:
    from triage.learning import Classifier, Part

    model = Classifier.loads(bytes(active_classifier.artifact))
    texts = ["东城区文化路小区楼道堆放杂物，存在消防隐患", "出租车拒载绕路乱收费", "", "学校食堂卫生差，孩子吃坏肚子"]
    prepared = model.prepare(texts)
    union = model.pipeline.named_steps["features"]
    parts: list[Part] = [part for _name, part in union.transformer_list]
    assert [type(part._fast_path()) for part in parts] == [charvec.WordPairIndex, charvec.CharNgramIndex]
    fast = union.transform(prepared).toarray()
    assert all(part.vectorizer is not None for part in parts)
    slow = np.hstack([part.vectorizer.transform([x[part.part] for x in prepared]).toarray()  # type: ignore[union-attr]
                      for part in parts])
    assert np.abs(fast - slow).max() < 1e-12
    clf = model.pipeline.named_steps["clf"]
    assert np.abs(clf.predict_proba(fast) - clf.predict_proba(slow)).max() < 1e-12
    assert model.predict(texts) == [str(label) for label in clf.predict(slow)]
