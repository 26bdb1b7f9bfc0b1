"""Raw-text handling of the classifier: normalisation, salutations, the domain-term
dictionary, and the same tokens in training and serving."""

from __future__ import annotations

import logging
from typing import Any

import jieba
import pytest

from triage import classifier as clf
from triage import learning


def test_noise_of_raw_messages_is_removed() -> None:
    raw = "尊敬的领导：您好！我小区的物业公司拖欠工资！！！联系电话：13812345678，详见 https://example.cn/t?id=1 谢谢！"
    tokens = clf.segment(raw)
    assert "物业公司" in tokens and "拖欠工资" in tokens
    for noise in ("领导", "您好", "谢谢", "0", "的", "我", "https", "example", "！"):
        assert noise not in tokens
    assert "13812345678" not in clf.content_text(raw) and "138" not in "".join(tokens)


def test_full_width_forms_are_folded() -> None:
    assert clf.normalize("Ａ１区　ｗｗｗ") == clf.normalize("A1区 www") == "某区www"


def test_a_raw_message_and_its_published_form_give_the_same_features() -> None:
    published = "小区物业无故停水业主投诉物业公司"
    raw = "您好，我们小区物业无故停水！！业主也投诉了物业公司，谢谢！"
    assert clf.prepare_one(raw) == clf.prepare_one(published)


def test_salutation_removal_does_not_eat_the_message() -> None:
    assert "拖欠" in "".join(clf.segment("尊敬的公司老板拖欠工资"))


@pytest.mark.parametrize("term", ["噪音扰民", "农民工工资", "住房公积金", "网约车", "学区房", "异地就医"])
def test_domain_terms_stay_whole(term: str) -> None:
    assert term in clf.segment(f"关于{term}问题")


def test_the_model_records_how_it_segmented_and_warns_when_served_otherwise(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = ["物业停水", "拖欠工资", "物业费", "工资社保"] * 3
    model = learning.fit(texts, ["城乡建设", "劳动和社会保障"] * 6)
    assert model.pipeline.segmenter_ == clf.segmenter_signature()
    data = model.dumps()
    with caplog.at_level(logging.WARNING, logger="triage.learning"):
        learning.Classifier.loads(data)
        assert not caplog.records
        monkeypatch.setattr(clf, "HMM", not clf.HMM)
        learning.Classifier.loads(data)
    assert "retrain" in caplog.text


def test_gazetteer_names_join_the_same_dictionary() -> None:
    clf.add_user_words(["东关街道文化路社区"])
    assert "东关街道文化路社区" in jieba.lcut("东关街道文化路社区路灯坏了")


@pytest.mark.parametrize(
    "text",
    ["尊敬的市长：", "领导您好！", "你好，", "各位领导，", "十分感谢领导！", "谢谢你们。", "此致敬礼", "此致", "敬礼！",
     "联系 a.b+c@mail.example.cn 谢谢", "物业停水三天"],
)
def test_a_text_the_patterns_would_not_change_is_not_searched(text: str) -> None:
    """The greeting and e-mail patterns run only on texts with one of their words or an @:
    the result is the same as running them on every text."""
    clean = clf.normalize(text)
    if clf._GREETINGS.search(clean):
        assert any(hint in clean for hint in clf._GREETING_HINTS)
    if clf._EMAIL.search(text):
        assert "@" in text
    assert clf._GREETINGS.sub("，", clean) == clean or any(hint in clean for hint in clf._GREETING_HINTS)


def test_the_greeting_look_ahead_changes_no_match() -> None:
    """_GREETINGS only adds a look-ahead for the alternatives' first characters: on texts
    made of greeting fragments and other words it substitutes exactly as the plain pattern."""
    import random
    import re

    plain = re.compile(clf._GREETING_ALTERNATIVES)
    pieces = ["尊敬的", "市长", "领导", "们", "您好", "你好", "大家", "各位", "各位领导", "非常", "十分", "感谢", "谢谢",
              "你们", "此致", "敬礼", "此致敬礼", "！", "!", "，", ",", "。", "：", ":", "同志", "政府", "物业", "尊", "敬",
              "好", "停水", "A", "0"]
    rng = random.Random(7)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    for text in texts:
        assert clf._GREETINGS.sub("，", text) == plain.sub("，", text), text


def test_explanations_of_a_batch_are_those_of_each_text_alone() -> None:
    """Alternatives and driving terms come from one set of array operations for the whole
    batch: the same as ranking each text's classes and word features on its own."""
    import numpy as np

    texts = ["物业停水小区", "拖欠工资社保", "物业费小区停电", "工资社保拖欠", "学校学生老师", "老师学校收费"] * 3
    model = learning.fit(texts, ["城乡建设", "劳动和社会保障", "城乡建设", "劳动和社会保障", "教育文体", "教育文体"] * 3)
    model.min_df_for_terms = 1
    prepared = learning.Classifier.prepare(["小区物业停水拖欠工资", "学校老师", "没有见过的词", "", "社保工资物业"])
    predictions = model.explain_prepared(prepared, top=2, terms=3)
    x = model.pipeline.named_steps["features"].transform(prepared).tocsr()
    proba = model.pipeline.named_steps["clf"].predict_proba(x)
    weights, names = model._term_weights(), model._names()
    assert any(p.terms for p in predictions)
    assert np.array_equal(names, model._word_vectorizer().get_feature_names_out())
    for row, prediction in enumerate(predictions):
        order = np.argsort(proba[row])[::-1]
        assert prediction.label == str(model.pipeline.classes_[order[0]])
        assert prediction.confidence == float(proba[row, order[0]])
        assert prediction.alternatives == [(str(model.pipeline.classes_[i]), round(float(proba[row, i]), 3)) for i in order[1:3]]
        assert prediction.terms == top_terms_of_one_row(x, row, weights, int(order[0]), names, 3)


def top_terms_of_one_row(x: Any, row: int, weights: Any, class_index: int, names: Any, limit: int) -> list[str]:
    """The reference: one row's word features that pushed towards the class, strongest
    first, by a stable sort of that row alone (what the worker computed before batching)."""
    import numpy as np

    start, end = x.indptr[row], x.indptr[row + 1]
    indices = x.indices[start:end]
    keep = indices < weights.shape[1]
    indices = indices[keep]
    scores = x.data[start:end][keep] * weights[class_index, indices]
    positive = scores > 0
    indices, scores = indices[positive], scores[positive]
    order = np.argsort(-scores, kind="stable")[:limit]
    return [str(names[indices[i]]).replace(" ", "") for i in order]


def test_coefficients_are_served_column_major_with_the_same_predictions() -> None:
    import numpy as np

    texts = ["物业停水", "拖欠工资", "物业费", "工资社保"] * 3
    model = learning.fit(texts, ["城乡建设", "劳动和社会保障"] * 6)
    loaded = learning.Classifier.loads(model.dumps())
    estimator = loaded.pipeline.named_steps["clf"].calibrated_classifiers_[0].estimator
    assert estimator.coef_.T.flags["C_CONTIGUOUS"]
    x = loaded.pipeline.named_steps["features"].transform(learning.Classifier.prepare(["物业停水了", "工资"]))
    served = loaded.pipeline.named_steps["clf"].predict_proba(x)
    estimator.coef_ = np.ascontiguousarray(estimator.coef_)
    assert np.array_equal(served, loaded.pipeline.named_steps["clf"].predict_proba(x))


@pytest.mark.parametrize(
    "text",
    ["ＨＴＴＰＳ://Ex.cn/a 电话１３８１２３４５６７８，", "WWW.abc.com 反映", "＜\u0338 Ａ\u0300 …", "０７５５－１２３４５６７８",
     "＋８６ 13812345678 邮箱 a@b.cn", "物业　停水（三天）！", "httpſ://x.cn"],
)
def test_normalisation_with_its_pre_checks_is_plain_nfkc_and_patterns(text: str) -> None:
    import unicodedata

    plain = unicodedata.normalize("NFKC", text)
    for pattern, repl in ((clf._URL, ""), (clf._EMAIL, ""), (clf._PHONE, ""), (clf._SPACE, ""), (clf._CODE, "某"),
                          (clf._DIGITS, "0")):
        plain = pattern.sub(repl, plain)
    assert clf.normalize(text) == plain


def test_explanations_never_show_folded_digits_or_masked_places() -> None:
    texts = ["物业停水，100，小区，A1区，停水", "拖欠工资社保", "学校收费老师"] * 4
    model = learning.fit(texts, ["城乡建设", "劳动和社会保障", "教育文体"] * 4)
    model.min_df_for_terms = 1
    terms = [t for p in model.explain_prepared(learning.Classifier.prepare(texts[:3]), terms=10) for t in p.terms]
    assert terms
    assert not any(t.replace(" ", "").strip("0某") == "" for t in terms), terms


def test_jieba_cache_read_in_one_piece_gives_jiebas_own_dictionary(tmp_path: Any) -> None:
    """initialize_jieba reads the cache jieba wrote, and ends with jieba's own state."""
    own = jieba.Tokenizer()
    own.tmp_dir = str(tmp_path)
    own.initialize()  # builds the prefix dictionary from dict.txt and writes tmp_path/jieba.cache
    assert (tmp_path / "jieba.cache").is_file()
    fast = jieba.Tokenizer()
    fast.tmp_dir = str(tmp_path)
    clf.initialize_jieba(fast)
    assert fast.initialized and fast.total == own.total and fast.FREQ == own.FREQ
    text = "我市某小区物业公司拖欠农民工工资"
    assert fast.lcut(text, HMM=False) == own.lcut(text, HMM=False)


@pytest.mark.parametrize("content", [b"", b"not marshal", b"\xe9\x00\x00"])
def test_a_jieba_cache_that_does_not_load_is_rebuilt_by_jieba(tmp_path: Any, content: bytes) -> None:
    (tmp_path / "jieba.cache").write_bytes(content)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = str(tmp_path)
    clf.initialize_jieba(tokenizer)
    assert tokenizer.initialized and tokenizer.total > 0 and len(tokenizer.FREQ) > 300_000


def _dataset_texts() -> list[str]:
    """Every other text of the shared labelled messages (published form) and of the raw
    board messages (title and body: punctuation, Latin letters, digits, line breaks)."""
    import csv
    from pathlib import Path

    from django.conf import settings

    labelled = Path(settings.TRAINING_CSV)
    texts: list[str] = []
    with labelled.open(encoding="utf-8") as handle:
        texts += [row["text"] for row in csv.DictReader(handle)][::2]
    with labelled.with_name("messages_unlabelled.csv").open(encoding="utf-8") as handle:
        texts += [f"{row['title']}\n{row['body']}" for row in csv.DictReader(handle)][::2]
    return texts


def test_precise_cut_gives_jiebas_words_on_the_shared_messages() -> None:
    texts = _dataset_texts()
    assert len(texts) > 6000
    clf.segment("物业")  # the domain terms in the dictionary, as when serving
    differ = [text[:40] for text in texts if clf.cut_precise(text) != jieba.lcut(text, HMM=False)]
    assert not differ
    normalised = [clf.normalize(text) for text in texts[::5]]
    assert all(clf.cut_precise(text) == jieba.lcut(text, HMM=False) for text in normalised)


@pytest.mark.parametrize(
    "text",
    ["", " ", "\n\n", "物业", "龘靐齉龘", "a", "abc123 def", "C++和C#程序员", "2024年3月5日下午3点", "ＡＢＣ１２３",
     "物业ABC公司12号楼3单元", "x@y.cn 电话：0731-8888888", "😀物业停水😀", "\t物业  停水\r\n第二行", "路路路路路路路路",
     "长春市长春药店", "南京市长江大桥", "结婚的和尚未结婚的", "工信处女干事每月经过下属科室都要亲口交代"],
)
def test_precise_cut_gives_jiebas_words_on_edge_cases(text: str) -> None:
    assert clf.cut_precise(text) == jieba.lcut(text, HMM=False)


def test_precise_cut_follows_words_added_to_the_dictionary() -> None:
    """add_word changes the dictionary's counts and its total; the cut reads both each call."""
    tokenizer = jieba.Tokenizer()
    clf.initialize_jieba()
    tokenizer.FREQ, tokenizer.total, tokenizer.initialized = dict(jieba.dt.FREQ), jieba.dt.total, True
    text = "清风区青石镇落雁村的村干部优亲厚友"
    assert "青石镇落雁村" not in clf.cut_precise(text, tokenizer)
    for word, count in (("清风区", 5), ("青石镇落雁村", 3000), ("优亲厚友", 10**7)):
        tokenizer.add_word(word, freq=count)
        assert clf.cut_precise(text, tokenizer) == tokenizer.lcut(text, HMM=False)
    assert {"青石镇落雁村", "优亲厚友"} <= set(clf.cut_precise(text, tokenizer))
    assert "青石镇落雁村" not in jieba.dt.FREQ  # the shared dictionary is untouched
