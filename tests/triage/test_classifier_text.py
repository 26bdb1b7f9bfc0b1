"""Raw-text handling of the classifier: normalisation, salutations, the domain-term
dictionary, and the same tokens in training and serving."""

from __future__ import annotations

import logging

import jieba
import pytest

from triage import classifier as clf


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
    model = clf.fit(texts, ["城乡建设", "劳动和社会保障"] * 6)
    assert model.pipeline.segmenter_ == clf.segmenter_signature()
    data = model.dumps()
    with caplog.at_level(logging.WARNING, logger="triage.classifier"):
        clf.Classifier.loads(data)
        assert not caplog.records
        monkeypatch.setattr(clf, "HMM", not clf.HMM)
        clf.Classifier.loads(data)
    assert "retrain" in caplog.text


def test_gazetteer_names_join_the_same_dictionary() -> None:
    clf.add_user_words(["东关街道文化路社区"])
    assert "东关街道文化路社区" in jieba.lcut("东关街道文化路社区路灯坏了")
