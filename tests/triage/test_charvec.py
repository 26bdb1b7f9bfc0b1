"""The vectorised char n-gram path gives the matrix scikit-learn's vectorizer gives."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from triage import charvec

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


def test_configurations_it_cannot_reproduce_use_scikit_learn() -> None:
    assert not charvec.supports(TfidfVectorizer(analyzer="char", lowercase=True).fit(TRAIN))
    assert not charvec.supports(TfidfVectorizer(analyzer="word").fit(TRAIN))
    assert not charvec.supports(TfidfVectorizer(analyzer="char"))  # not fitted
