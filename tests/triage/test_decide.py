"""Tests for triage decisions: places, routing over four levels, 检举控告, urgency, duplicates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from triage import decide as d
from triage.models import Category, RuleKind, TermRule

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_routing")]


def test_it_extracts_the_most_specific_place_named_in_the_text(demo_org: None) -> None:
    place = d.extract_place("东城区东关街道文化路社区的路面坏了很久")
    assert place is not None and place.code == "379901001002" and place.level == 4
    assert d.extract_place("南山县青石镇赶集的路堵")
    assert d.extract_place("南山县青石镇赶集的路堵").code == "379921101"  # type: ignore[union-attr]
    assert d.extract_place("西城区的问题").code == "379902"  # type: ignore[union-attr]
    assert d.extract_place("说的是别的城市") is None


def test_it_understands_aliases(demo_org: None) -> None:
    place = d.extract_place("石桥那边的村道塌了")
    assert place is not None and place.code == "379921101202"


def test_it_routes_by_category_to_the_county_functional_department(demo_org: None, active_classifier: Any) -> None:
    decision = d.decide(text="白沙镇中心小学强制学生购买教辅资料，老师课后有偿补课，请教育局查处。",
                        chosen_matter_type="complaint", area_code="379902101201", accused="")
    assert decision.category and decision.category.name == "教育文体"
    assert decision.department and decision.department.code == "379902-jy"
    assert decision.explanation["category"]["terms"]


def test_it_routes_city_level_places_to_city_departments(demo_org: None, active_classifier: Any) -> None:
    decision = d.decide(text="出租车司机拒载绕路，还不打表乱收费，请交通运输局整治出租车行业。", chosen_matter_type="",
                        area_code="379900", accused="")
    assert decision.department and decision.department.code == "379900-jt"


def test_route_rules_reach_village_and_township_governments(demo_org: None) -> None:
    village = d.decide(text="村务公开栏半年没有更新，村集体收入去向不明。", chosen_matter_type="suggestion",
                       area_code="379921102202", accused="")
    assert village.department and village.department.code == "379921102202-gov" and village.department.level == 4
    street = d.decide(text="小区门口路灯坏了两个月。", chosen_matter_type="complaint", area_code="379901002", accused="")
    assert street.department and street.department.code == "379901002-gov" and street.department.level == 3
    assert street.route


def test_conflicting_rules_go_to_the_human_queue(demo_org: None) -> None:
    from triage.models import Department

    TermRule.objects.create(kind=RuleKind.ROUTE, term="路灯", department=Department.objects.get(code="379901-zj"))
    decision = d.decide(text="小区门口路灯坏了两个月。", chosen_matter_type="", area_code="379901002", accused="")
    assert not decision.route and decision.queue_reason == "conflicting_rules"


def test_accusations_against_village_cadres_go_to_the_county_commission(demo_org: None) -> None:
    decision = d.decide(text="举报青石村村支书优亲厚友，把低保名额给了自己的亲戚。", chosen_matter_type="",
                        area_code="", accused="青石村村支书")
    assert decision.matter_type == "accusation"
    assert decision.violation == "优亲厚友"
    assert decision.department and decision.department.code == "379921-jw"
    assert decision.route


def test_accusations_against_county_leaders_go_to_the_city_commission(demo_org: None) -> None:
    decision = d.decide(text="南山县副县长违规接受宴请，收受购物卡。", chosen_matter_type="accusation", area_code="",
                        accused="某副县长")
    assert decision.department and decision.department.code == "379900-jw"
    assert decision.violation == "违规吃喝/收礼"


def test_medical_insurance_fraud_is_recognised(demo_org: None) -> None:
    decision = d.decide(text="东城区某诊所挂床住院套取医保基金，医保局工作人员收受好处。", chosen_matter_type="accusation",
                        area_code="379901", accused="")
    assert decision.violation == "骗取医保基金"


def test_the_reporters_choice_is_a_strong_prior(demo_org: None) -> None:
    label, _terms = d.decide_matter_type("请问办理居住证需要什么材料", "suggestion")
    assert label == "suggestion"
    assert d.decide_matter_type("请问办理居住证需要什么材料", "")[0] == "consultation"


def test_emergencies_are_urgent(demo_org: None) -> None:
    decision = d.decide(text="我家楼下燃气泄漏，味道很大，物业不管！", chosen_matter_type="", area_code="379901001001",
                        accused="")
    assert decision.urgent
    assert "燃气泄漏" in decision.explanation["urgent_terms"]
    calm = d.decide(text="建议小区增设健身器材。", chosen_matter_type="", area_code="379901001001", accused="")
    assert not calm.urgent


def test_without_a_model_or_a_place_the_report_waits_for_a_person(demo_org: None) -> None:
    decision = d.decide(text="有一件事情想反映一下，具体情况比较复杂。", chosen_matter_type="", area_code="", accused="")
    assert not decision.route and decision.queue_reason == "no_department"


def test_low_confidence_goes_to_the_human_queue(demo_org: None, active_classifier: Any, settings: Any) -> None:
    settings.TRIAGE_CONFIDENCE_THRESHOLD = 0.999
    decision = d.decide(text="小区环境和交通都有些问题，学校附近也乱。", chosen_matter_type="", area_code="379901",
                        accused="")
    assert not decision.route and decision.queue_reason == "low_confidence"


def hamming(a: int, b: int) -> int:
    """Bits that differ between two stored (signed 64-bit) fingerprints: the distance the
    duplicate matching computes with arrays."""
    return ((a ^ b) & ((1 << 64) - 1)).bit_count()


def test_simhash_is_close_for_near_duplicates_and_far_otherwise() -> None:
    from triage.classifier import segment

    a = d.simhash(segment("东城区文化路小区楼道堆放杂物多年，物业不清理，存在消防隐患，请相关部门督促整改。"))
    b = d.simhash(segment("东城区文化路小区楼道堆放杂物多年，物业一直不清理，存在消防隐患，请督促整改。"))
    c = d.simhash(segment("白沙镇下洋村道路坑洼严重，雨天无法通行，村民出行困难。"))
    assert hamming(a, b) <= 10 < hamming(a, c)
    assert -(2**63) <= a < 2**63


def test_simhashes_of_a_batch_are_each_text_s_simhash_bit_by_bit() -> None:
    import random
    from collections import Counter

    def reference(tokens: list[str]) -> int:  # the definition, one bit at a time
        if not tokens:
            return 0
        counts = Counter(tokens)
        score = [sum(n if d._token_hash(t) >> i & 1 else -n for t, n in counts.items()) for i in range(64)]
        value = sum(1 << i for i in range(64) if score[i] > 0)
        return value - (1 << 64) if value >= 1 << 63 else value

    rng = random.Random(7)
    words = [f"词{i}" for i in range(200)]
    texts = [[rng.choice(words) for _ in range(rng.randint(0, 50))] for _ in range(300)] + [[], ["一"], []]
    assert d.simhashes(texts) == [reference(tokens) for tokens in texts]
    assert any(value < 0 for value in d.simhashes(texts))
    assert d.simhashes([]) == [] and d.simhash([]) == 0


def test_categories_are_a_table(demo_org: None) -> None:
    assert Category.objects.count() == 7


def _duplicates_one_pair_at_a_time(items: list[tuple[int, int, Any]], candidates: Sequence[tuple[int, int | None, int | None]],
                                   max_distance: int) -> dict[int, int]:
    """The reference for match_duplicates: each item against each candidate in order, then
    against the earlier items of its batch (what find_duplicates did before its arrays)."""
    found: dict[int, int] = {}
    for case_id, fingerprint, _at in items:
        for pk, candidate_fp, root in candidates:
            if hamming(candidate_fp or 0, fingerprint) <= max_distance:
                found[case_id] = root or pk
                break
    ordered = sorted(items, key=lambda item: (item[2], item[0]))
    for index, (case_id, fingerprint, _at) in enumerate(ordered):
        if case_id in found:
            continue
        for earlier_id, earlier_fp, _earlier_at in ordered[:index]:
            if hamming(earlier_fp, fingerprint) <= max_distance:
                found[case_id] = found.get(earlier_id, earlier_id)
                break
    return found


@pytest.mark.parametrize("block", [3, 4096])
def test_duplicates_are_matched_as_one_pair_at_a_time(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    """Signed fingerprints near a few seeds (so that many are within the distance), candidates
    in several blocks, items of the batch repeating each other and older cases."""
    import random

    monkeypatch.setattr(d, "_DISTANCE_BLOCK", block)
    rng = random.Random(3)
    seeds = [rng.getrandbits(64) for _ in range(6)]

    def near() -> int:
        value = rng.choice(seeds)
        for _ in range(rng.randint(0, 5)):
            value ^= 1 << rng.randrange(64)
        return value - (1 << 64) if value >= 1 << 63 else value

    for _ in range(30):
        candidates = [(pk, near(), rng.choice([None, None, rng.randint(1, 99)])) for pk in range(1, rng.randint(0, 40))]
        items = [(100 + i, near(), rng.randint(0, 5)) for i in range(rng.randint(1, 25))]
        for distance in (0, 3, 6):
            assert d.match_duplicates(items, candidates, distance) == _duplicates_one_pair_at_a_time(items, candidates, distance)


def test_the_terms_found_in_a_text_are_those_a_substring_search_finds(demo_org: None) -> None:
    """One automaton scan replaces a search per rule term: for every term the decision
    looks for, `term in terms_in(text)` is `term in text` (overlapping and nested terms too)."""
    from triage.defaults import ACCUSED_LEVEL_TERMS

    snapshot = d.routing_snapshot()
    terms = {rule.term for rules in snapshot.rules.values() for rule in rules}
    terms |= {term for _level, term in ACCUSED_LEVEL_TERMS} | set(d.COUNTY_LEADER_TERMS)
    texts = [
        "县委书记和区委书记、县长都说村支书优亲厚友，骗取医保基金，十万火急！",
        "我要举报某局局长违规吃喝收礼，另外咨询一下居住证怎么办理，建议小区增设健身器材。",
        "".join(sorted(terms)),
        "".join(sorted(terms, reverse=True)),
        "",
        "物业停水",
    ]
    for text in texts:
        found = snapshot.terms_in(text)
        assert {term for term in terms if term in found} == {term for term in terms if term in text}
        assert found <= terms
