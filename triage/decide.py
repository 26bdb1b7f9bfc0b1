"""Triage decisions for one report: category, type of matter, violation, urgency, place,
department, duplicates and the reasons. Pure decision code; the task applies it."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from intake.models import Area, AreaLevel, MatterType
from triage import classifier as clf
from triage.defaults import ACCUSED_LEVEL_TERMS
from triage.models import Case, Category, ClassifierModel, Department, DepartmentKind, RuleKind, TermRule

_lock = threading.Lock()
_model_cache: dict[str, Any] = {"version": None, "model": None, "checked": 0.0}
_gazetteer_cache: dict[str, Any] = {"at": 0.0, "entries": None}
CACHE_SECONDS = 60


def active_model() -> tuple[str, clf.Classifier] | None:
    """The active classifier, loaded once per process and re-checked every minute."""
    now = time.monotonic()
    with _lock:
        if _model_cache["model"] is not None and now - _model_cache["checked"] < CACHE_SECONDS:
            return _model_cache["version"], _model_cache["model"]
        version = ClassifierModel.objects.filter(is_active=True).values_list("version", flat=True).first()
        if version is None:
            # Not cached: the first model trained after start is picked up at once.
            _model_cache.update(version=None, model=None, checked=0.0)
            return None
        if version != _model_cache["version"]:
            artifact = ClassifierModel.objects.filter(version=version).values_list("artifact", flat=True).get()
            _model_cache["model"] = clf.Classifier.loads(bytes(artifact))
            _model_cache["version"] = version
        _model_cache["checked"] = now
        return _model_cache["version"], _model_cache["model"]


def forget_caches() -> None:
    with _lock:
        _model_cache.update(version=None, model=None, checked=0.0)
        _gazetteer_cache.update(at=0.0, entries=None)


# --- places ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    code: str
    level: int
    chain: tuple[str, ...]  # codes from the city down to this place


def _gazetteer() -> tuple[Any, dict[str, Place]]:
    import ahocorasick

    now = time.monotonic()
    if _gazetteer_cache["entries"] is not None and now - _gazetteer_cache["at"] < CACHE_SECONDS:
        return _gazetteer_cache["entries"]
    areas = {a.code: a for a in Area.objects.all()}
    places: dict[str, Place] = {}
    automaton = ahocorasick.Automaton()
    names: dict[str, list[str]] = {}
    for area in areas.values():
        chain = []
        node: Area | None = area
        while node is not None:
            chain.append(node.code)
            node = areas.get(node.parent.code) if node.parent_id and node.parent else None
        places[area.code] = Place(code=area.code, level=area.level, chain=tuple(reversed(chain)))
        variants = {area.name, *(a.strip() for a in area.aliases.split(",") if a.strip())}
        for name in variants:
            if len(name) >= 2:
                names.setdefault(name, []).append(area.code)
    for name, codes in names.items():
        automaton.add_word(name, (name, tuple(codes)))
    if names:
        automaton.make_automaton()
    clf.add_user_words(list(names))
    entries = (automaton if names else None, places)
    _gazetteer_cache.update(at=now, entries=entries)
    return entries


def place_for_code(code: str) -> Place | None:
    return _gazetteer()[1].get(code)


def extract_place(text: str) -> Place | None:
    """The most specific place the text names, preferring names that agree with each other
    (东城区 … 东关街道 … 文化路社区 → the community inside that street inside that district)."""
    automaton, places = _gazetteer()
    if automaton is None or not text:
        return None
    found: Counter[str] = Counter()
    for _end, (_name, codes) in automaton.iter(text):
        for code in codes:
            found[code] += 1
    if not found:
        return None

    def support(code: str) -> tuple[int, int, int]:
        place = places[code]
        agreeing = sum(1 for c in place.chain if c in found)
        return (agreeing, place.level, found[code])

    return places[max(found, key=support)]


# --- rules --------------------------------------------------------------------------------


def _rules(kind: str) -> list[TermRule]:
    return list(TermRule.objects.filter(kind=kind, is_active=True).select_related("department", "area"))


def _score_terms(text: str, rules: list[TermRule]) -> tuple[dict[str, float], dict[str, list[str]]]:
    scores: dict[str, float] = {}
    terms: dict[str, list[str]] = {}
    for rule in rules:
        if rule.term and rule.term in text:
            scores[rule.label] = scores.get(rule.label, 0.0) + rule.weight
            terms.setdefault(rule.label, []).append(rule.term)
    return scores, terms


def decide_matter_type(text: str, chosen: str) -> tuple[str, list[str]]:
    scores, terms = _score_terms(text, _rules(RuleKind.MATTER))
    if chosen:
        scores[chosen] = scores.get(chosen, 0.0) + settings.TRIAGE_REPORTER_CHOICE_WEIGHT  # a strong prior, not the last word
    if not scores:
        return MatterType.COMPLAINT, []
    label = max(scores, key=lambda k: (scores[k], k == chosen))
    return label, terms.get(label, [])


def decide_violation(text: str) -> tuple[str, list[str]]:
    scores, terms = _score_terms(text, _rules(RuleKind.VIOLATION))
    if not scores:
        return "", []
    label = max(scores, key=lambda k: scores[k])
    return label, terms[label]


def decide_urgency(text: str) -> list[str]:
    return [r.term for r in _rules(RuleKind.URGENCY) if r.term and r.term in text]


def accused_level(text: str) -> int | None:
    levels = [level for level, term in ACCUSED_LEVEL_TERMS if term in text]
    return max(levels) if levels else None


# --- departments ------------------------------------------------------------------------


def _county_code(place: Place) -> str:
    return place.chain[min(1, len(place.chain) - 1)]


def functional_department(category: Category, place: Place) -> Department | None:
    """The category's functional department at the county level of the place (city level
    when the place is the city itself)."""
    if not category.department_suffix:
        return None
    code = f"{_county_code(place)}-{category.department_suffix}"
    return Department.objects.filter(code=code, is_active=True).first()


COUNTY_LEADER_TERMS = ("区长", "县长", "区委书记", "县委书记")


def discipline_department(place: Place | None, level: int | None, *, county_leader: bool = False) -> Department | None:
    """纪委监委 at the accused's level: village and township cadres and county departments
    answer to the county commission; county leaders and city officials to the city's."""
    qs = Department.objects.filter(kind=DepartmentKind.DISCIPLINE, is_active=True)
    city_commission = qs.filter(area__code=place.chain[0]) if place is not None else qs.filter(level=AreaLevel.CITY)
    if level == AreaLevel.CITY or county_leader or place is None or len(place.chain) < 2:
        return city_commission.first()
    return qs.filter(area__code=_county_code(place)).first() or city_commission.first()


def government_of(place: Place) -> Department | None:
    return Department.objects.filter(area__code=place.code, kind=DepartmentKind.GOVERNMENT, is_active=True).first()


def route_by_rules(text: str, place: Place | None) -> tuple[list[Department], list[str]]:
    """Admin routing rules (keyword, optionally limited to a place) that match."""
    matched: list[Department] = []
    terms: list[str] = []
    for rule in _rules(RuleKind.ROUTE):
        if not rule.term or rule.term not in text:
            continue
        if rule.area_id and (place is None or (rule.area and rule.area.code not in place.chain)):
            continue
        target = rule.department or (government_of(place) if place and rule.label == "place_government" else None)
        if target is not None and target not in matched:
            matched.append(target)
            terms.append(rule.term)
    return matched, terms


# --- duplicates -------------------------------------------------------------------------


def simhash(tokens: list[str]) -> int:
    """64-bit SimHash over token counts, as a signed integer for a BIGINT column."""
    if not tokens:
        return 0
    weights = [0] * 64
    for token, count in Counter(tokens).items():
        h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")
        for bit in range(64):
            weights[bit] += count if h >> bit & 1 else -count
    value = sum(1 << bit for bit in range(64) if weights[bit] > 0)
    return value - (1 << 64) if value >= 1 << 63 else value


def bands(fingerprint: int) -> tuple[int, int, int, int]:
    unsigned = fingerprint & ((1 << 64) - 1)
    return tuple((unsigned >> (16 * i)) & 0xFFFF for i in range(4))  # type: ignore[return-value]


def hamming(a: int, b: int) -> int:
    return bin((a ^ b) & ((1 << 64) - 1)).count("1")


def find_duplicate(fingerprint: int, *, exclude_case_id: int) -> Case | None:
    """The earliest recent case whose fingerprint is within the configured distance."""
    b = bands(fingerprint)
    since = timezone.now() - timedelta(days=settings.TRIAGE_DUPLICATE_WINDOW_DAYS)
    candidates = (
        Case.objects.filter(
            Q(fp_band0=b[0]) | Q(fp_band1=b[1]) | Q(fp_band2=b[2]) | Q(fp_band3=b[3]),
            created_at__gte=since,
            fingerprint__isnull=False,
        )
        .exclude(pk=exclude_case_id)
        .order_by("created_at")
        .only("pk", "fingerprint", "duplicate_of_id", "created_at")[:200]
    )
    for candidate in candidates:
        if hamming(candidate.fingerprint or 0, fingerprint) <= settings.TRIAGE_DUPLICATE_MAX_DISTANCE:
            return Case.objects.get(pk=candidate.duplicate_of_id) if candidate.duplicate_of_id else candidate
    return None


# --- the whole decision -------------------------------------------------------------------


@dataclass
class Decision:
    category: Category | None = None
    confidence: float | None = None
    matter_type: str = ""
    violation: str = ""
    urgent: bool = False
    place: Place | None = None
    department: Department | None = None
    route: bool = False  # confident enough to route without a person
    queue_reason: str = ""
    fingerprint: int | None = None
    model_version: str = ""
    explanation: dict[str, Any] = field(default_factory=dict)


def decide(*, text: str, chosen_matter_type: str, area_code: str, accused: str) -> Decision:
    """Decide everything for one report's text (decrypted in memory by the caller)."""
    _gazetteer()  # loads the gazetteer into jieba's dictionary before segmenting
    decision = Decision()
    full = f"{text}\n{accused}"
    tokens = clf.segment(full)
    decision.fingerprint = simhash(tokens)
    explanation: dict[str, Any] = {}

    model = active_model()
    if model is not None:
        version, classifier = model
        prediction = classifier.explain(full)
        decision.model_version = version
        decision.category = Category.objects.filter(name=prediction.label).first()
        decision.confidence = round(prediction.confidence, 4)
        explanation["category"] = {
            "label": prediction.label,
            "confidence": round(prediction.confidence, 3),
            "alternatives": prediction.alternatives,
            "terms": prediction.terms,
        }

    decision.matter_type, matter_terms = decide_matter_type(full, chosen_matter_type)
    explanation["matter_type"] = {"label": decision.matter_type, "chosen": chosen_matter_type, "terms": matter_terms}
    urgent_terms = decide_urgency(full)
    decision.urgent = bool(urgent_terms)
    if urgent_terms:
        explanation["urgent_terms"] = urgent_terms

    decision.place = place_for_code(area_code) if area_code else None
    if decision.place is None:
        decision.place = extract_place(full)
        if decision.place:
            explanation["place_from_text"] = True
    if decision.place:
        explanation["place"] = decision.place.code

    reasons: list[str] = []
    if decision.matter_type == MatterType.ACCUSATION:
        decision.violation, violation_terms = decide_violation(full)
        level = accused_level(full)
        county_leader = any(term in full for term in COUNTY_LEADER_TERMS)
        decision.department = discipline_department(decision.place, level, county_leader=county_leader)
        explanation["discipline"] = {"violation": decision.violation, "terms": violation_terms, "accused_level": level}
    else:
        ruled, rule_terms = route_by_rules(full, decision.place)
        if len(ruled) > 1:
            reasons.append("conflicting_rules")
            explanation["rules"] = {"terms": rule_terms, "departments": [d.code for d in ruled]}
        elif ruled:
            decision.department = ruled[0]
            explanation["rules"] = {"terms": rule_terms, "departments": [ruled[0].code]}
        elif decision.category and decision.place:
            decision.department = functional_department(decision.category, decision.place)

    if decision.department is None and "conflicting_rules" not in reasons:
        reasons.append("no_department")
    model_decides = decision.matter_type != MatterType.ACCUSATION and "rules" not in explanation
    if model_decides and (decision.confidence is None or decision.confidence < settings.TRIAGE_CONFIDENCE_THRESHOLD):
        reasons.append("low_confidence")
    decision.route = not reasons
    decision.queue_reason = reasons[0] if reasons else ""
    if decision.department is not None:
        explanation["department"] = decision.department.code
    decision.explanation = explanation
    return decision
