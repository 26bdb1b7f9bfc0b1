"""Triage decisions for one report: category, type of matter, violation, urgency, place,
department, duplicates and the reasons. Pure decision code; the task applies it."""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from intake.models import Area, AreaLevel, MatterType
from triage import classifier as clf
from triage.defaults import ACCUSED_LEVEL_TERMS
from triage.models import Case, Category, ClassifierModel, Department, DepartmentKind, RuleKind, TermRule
from triage.serving import Model, ServingModel, StaleFormat

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_model_cache: dict[str, Any] = {"version": None, "model": None, "checked": 0.0}
_gazetteer_cache: dict[str, Any] = {"at": 0.0, "entries": None}
CACHE_SECONDS = 60


def active_model() -> tuple[str, Model] | None:
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
            _model_cache["model"] = _load_model(version)
            _model_cache["version"] = version
        _model_cache["checked"] = now
        return _model_cache["version"], _model_cache["model"]


def _load_model(version: str) -> Model:
    """The stored serving model of a version. One saved before serving models (or in an
    older layout) is compiled here, importing scikit-learn (once: the next process finds it
    stored), or served by scikit-learn when its pipeline cannot be compiled."""
    data = _read_serving(version)
    if data is not None:
        try:
            return ServingModel.loads(data)
        except StaleFormat as exc:
            logger.info("Classifier %s: %s; compiling it again.", version, exc)
    from triage import learning  # scikit-learn: only for a model saved before serving models

    started = time.monotonic()
    artifact = bytes(ClassifierModel.objects.filter(version=version).values_list("artifact", flat=True).get())
    try:
        compiled = learning.compile_artifact(artifact).dumps()
    except learning.CompileError as exc:
        logger.warning("Classifier %s cannot be compiled for serving (%s): served by scikit-learn.", version, exc)
        return learning.Classifier.loads(artifact)
    ClassifierModel.objects.filter(version=version).update(serving=compiled)
    logger.info("Classifier %s had no serving model of this format: compiled in %.2f s and stored.", version,
                time.monotonic() - started)
    return ServingModel.loads(compiled)


def _read_serving(version: str) -> bytes | None:
    """The serving model's bytes, on PostgreSQL in binary format: in psycopg's default text
    format a bytea travels hex-encoded, and for a model's ~30 MB that took ~4x as long."""
    if connection.vendor != "postgresql":
        row = ClassifierModel.objects.filter(version=version).values_list("serving").first()
    else:
        import psycopg  # the backend's driver; Django's own cursors bind on the client, which rules out binary results

        connection.ensure_connection()
        table = connection.ops.quote_name(ClassifierModel._meta.db_table)
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(f"SELECT serving FROM {table} WHERE version = %s", [version], binary=True)  # noqa: S608 - our table name
            row = cursor.fetchone()
    return None if row is None or row[0] is None else bytes(row[0])


def forget_caches() -> None:
    with _lock:
        _model_cache.update(version=None, model=None, checked=0.0)
        _gazetteer_cache.update(at=0.0, entries=None)
    _routing_cache["snapshot"] = None


# --- places ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    code: str
    level: int
    chain: tuple[str, ...]  # codes from the city down to this place


def _gazetteer(*, version: object = None, check: bool = False) -> tuple[Any, dict[str, Place]]:
    """Place names as an Aho-Corasick automaton, and every place with its chain of codes.

    Built once per process and rebuilt when a place, rule, category or department changes
    (the shared routing `version`, read by the caller once per batch and passed with
    check=True), or after ROUTING_MAX_AGE. Per-report callers pass nothing: no cache read."""
    import ahocorasick

    now = time.monotonic()
    entries = _gazetteer_cache["entries"]
    fresh = entries is not None and now - _gazetteer_cache["at"] < ROUTING_MAX_AGE
    if fresh and (not check or (version is not None and version == _gazetteer_cache.get("version"))):
        return entries
    if not check:
        version = _routing_version()
    areas = {a.code: a for a in Area.objects.all()}
    by_pk = {a.pk: a for a in areas.values()}  # parents from this one query, not one query per area and level
    places: dict[str, Place] = {}
    automaton = ahocorasick.Automaton()
    names: dict[str, list[str]] = {}
    for area in areas.values():
        chain = []
        node: Area | None = area
        while node is not None:
            chain.append(node.code)
            node = by_pk.get(node.parent_id) if node.parent_id else None
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
    _gazetteer_cache.update(at=now, entries=entries, version=version)
    return entries


def load_place_words() -> None:
    """Put the gazetteer's place names into jieba's dictionary, as the worker has them:
    training and evaluation call this so they segment text the way triage does."""
    _gazetteer()


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


# --- rules and departments: one snapshot per worker, refreshed when an admin edits ------


@dataclass(frozen=True)
class Rule:
    term: str
    label: str
    weight: float
    department: Department | None
    area_code: str | None


@dataclass
class RoutingSnapshot:
    """Rules, categories and departments as triage reads them, loaded with a handful of
    queries and shared by every report of a batch (and by later batches until an admin
    edits one of them, or for at most ROUTING_MAX_AGE seconds)."""

    version: object
    loaded_at: float
    rules: dict[str, list[Rule]]
    categories: dict[str, Category]
    departments_by_code: dict[str, Department]
    discipline_by_area: dict[str, Department]
    government_by_area: dict[str, Department]
    city_discipline: Department | None
    term_finder: Any = None  # Aho-Corasick automaton of every term the decision looks for

    def terms_in(self, text: str) -> frozenset[str]:
        """The terms of the rules (and of the accused's level) that occur in `text`: one scan
        of the text instead of a substring search per term (~200 for an accusation).
        `term in terms_in(text)` is `term in text` for every such term."""
        if self.term_finder is None:
            return frozenset()
        return frozenset(term for _end, term in self.term_finder.iter(text))


ROUTING_VERSION_KEY = "triage:routing-version"
ROUTING_MAX_AGE = 300
_routing_cache: dict[str, RoutingSnapshot | None] = {"snapshot": None}


def _routing_version() -> object:
    from django.core.cache import cache

    try:
        return cache.get(ROUTING_VERSION_KEY, 0)
    except Exception:  # noqa: BLE001 - a cache outage falls back on the age limit
        return None


def forget_routing() -> None:
    """Drop this process's routing snapshot and gazetteer (rebuilt on next use)."""
    _routing_cache["snapshot"] = None
    _gazetteer_cache.update(at=0.0, entries=None)


def routing_changed() -> None:
    """Called after an admin change to rules, categories or departments commits."""
    from django.core.cache import cache

    forget_routing()
    try:
        cache.set(ROUTING_VERSION_KEY, time.time_ns(), timeout=None)
    except Exception:  # noqa: BLE001 - other workers pick the change up within ROUTING_MAX_AGE
        logger.warning("Could not announce a routing change; workers see it within %d s.", ROUTING_MAX_AGE)


def routing_snapshot(version: object = None, *, checked: bool = False) -> RoutingSnapshot:
    """The current snapshot; `version` is the shared routing version if the caller has
    already read it (checked=True), else it is read here."""
    if not checked:
        version = _routing_version()
    now = time.monotonic()
    snapshot = _routing_cache["snapshot"]
    fresh = snapshot is not None and now - snapshot.loaded_at < ROUTING_MAX_AGE
    if fresh and snapshot is not None and version is not None and snapshot.version == version:
        return snapshot
    rules: dict[str, list[Rule]] = {}
    active_rules = TermRule.objects.filter(is_active=True).select_related("department", "area")
    for rule in active_rules.order_by("kind", "label", "term", "pk"):
        if rule.term:
            rules.setdefault(rule.kind, []).append(
                Rule(
                    term=rule.term,
                    label=rule.label,
                    weight=rule.weight,
                    department=rule.department if rule.department and rule.department.is_active else None,
                    area_code=rule.area.code if rule.area_id and rule.area else None,
                )
            )
    departments = list(Department.objects.filter(is_active=True).select_related("area"))
    discipline: dict[str, Department] = {}
    government: dict[str, Department] = {}
    city_discipline = None
    for department in departments:
        if department.kind == DepartmentKind.DISCIPLINE:
            discipline.setdefault(department.area.code, department)
            if department.level == AreaLevel.CITY and city_discipline is None:
                city_discipline = department
        elif department.kind == DepartmentKind.GOVERNMENT:
            government.setdefault(department.area.code, department)
    snapshot = RoutingSnapshot(
        term_finder=_term_finder([rule.term for kind in rules.values() for rule in kind]),
        version=version,
        loaded_at=now,
        rules=rules,
        categories={c.model_label: c for c in Category.objects.all()},
        departments_by_code={d.code: d for d in departments},
        discipline_by_area=discipline,
        government_by_area=government,
        city_discipline=city_discipline,
    )
    _routing_cache["snapshot"] = snapshot
    return snapshot


def _term_finder(rule_terms: list[str]) -> Any:
    import ahocorasick

    terms = {*rule_terms, *(term for _level, term in ACCUSED_LEVEL_TERMS), *COUNTY_LEADER_TERMS} - {""}
    if not terms:
        return None
    automaton = ahocorasick.Automaton()
    for term in sorted(terms):
        automaton.add_word(term, term)
    automaton.make_automaton()
    return automaton


# The rule functions below test `term in text`: `text` is the text itself, or the set of
# the terms found in it (RoutingSnapshot.terms_in), which answers the same.


def _score_terms(text: Container[str], rules: list[Rule]) -> tuple[dict[str, float], dict[str, list[str]]]:
    scores: dict[str, float] = {}
    terms: dict[str, list[str]] = {}
    for rule in rules:
        if rule.term in text:
            scores[rule.label] = scores.get(rule.label, 0.0) + rule.weight
            terms.setdefault(rule.label, []).append(rule.term)
    return scores, terms


def decide_matter_type(text: Container[str], chosen: str, snapshot: RoutingSnapshot | None = None) -> tuple[str, list[str]]:
    snapshot = snapshot or routing_snapshot()
    scores, terms = _score_terms(text, snapshot.rules.get(RuleKind.MATTER, []))
    if chosen:
        scores[chosen] = scores.get(chosen, 0.0) + settings.TRIAGE_REPORTER_CHOICE_WEIGHT  # a strong prior, not the last word
    if not scores:
        return MatterType.COMPLAINT, []
    label = max(scores, key=lambda k: (scores[k], k == chosen))
    return label, terms.get(label, [])


def decide_violation(text: Container[str], snapshot: RoutingSnapshot | None = None) -> tuple[str, list[str]]:
    snapshot = snapshot or routing_snapshot()
    scores, terms = _score_terms(text, snapshot.rules.get(RuleKind.VIOLATION, []))
    if not scores:
        return "", []
    label = max(scores, key=lambda k: scores[k])
    return label, terms[label]


def decide_urgency(text: Container[str], snapshot: RoutingSnapshot | None = None) -> list[str]:
    snapshot = snapshot or routing_snapshot()
    return [r.term for r in snapshot.rules.get(RuleKind.URGENCY, []) if r.term in text]


def accused_level(text: Container[str]) -> int | None:
    levels = [level for level, term in ACCUSED_LEVEL_TERMS if term in text]
    return max(levels) if levels else None


def _county_code(place: Place) -> str:
    return place.chain[min(1, len(place.chain) - 1)]


def functional_department(category: Category, place: Place, snapshot: RoutingSnapshot | None = None) -> Department | None:
    """The category's functional department at the county level of the place (city level
    when the place is the city itself)."""
    if not category.department_suffix:
        return None
    snapshot = snapshot or routing_snapshot()
    return snapshot.departments_by_code.get(f"{_county_code(place)}-{category.department_suffix}")


COUNTY_LEADER_TERMS = ("区长", "县长", "区委书记", "县委书记")


def discipline_department(
    place: Place | None, level: int | None, *, county_leader: bool = False, snapshot: RoutingSnapshot | None = None
) -> Department | None:
    """纪委监委 at the accused's level: village and township cadres and county departments
    answer to the county commission; county leaders and city officials to the city's."""
    snapshot = snapshot or routing_snapshot()
    city = snapshot.discipline_by_area.get(place.chain[0]) if place is not None else snapshot.city_discipline
    if level == AreaLevel.CITY or county_leader or place is None or len(place.chain) < 2:
        return city
    return snapshot.discipline_by_area.get(_county_code(place)) or city


def government_of(place: Place, snapshot: RoutingSnapshot | None = None) -> Department | None:
    return (snapshot or routing_snapshot()).government_by_area.get(place.code)


def route_by_rules(text: Container[str], place: Place | None,
                   snapshot: RoutingSnapshot | None = None) -> tuple[list[Department], list[str]]:
    """Admin routing rules (keyword, optionally limited to a place) that match."""
    snapshot = snapshot or routing_snapshot()
    matched: list[Department] = []
    terms: list[str] = []
    for rule in snapshot.rules.get(RuleKind.ROUTE, []):
        if rule.term not in text:
            continue
        if rule.area_code and (place is None or rule.area_code not in place.chain):
            continue
        target = rule.department or (government_of(place, snapshot) if place and rule.label == "place_government" else None)
        if target is not None and target not in matched:
            matched.append(target)
            terms.append(rule.term)
    return matched, terms


# --- duplicates -------------------------------------------------------------------------

_token_hashes: dict[str, int] = {}
_TOKEN_HASH_CACHE_SIZE = 500_000


def _token_hash(token: str) -> int:
    value = _token_hashes.get(token)
    if value is None:
        if len(_token_hashes) >= _TOKEN_HASH_CACHE_SIZE:
            _token_hashes.clear()
        value = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")
        _token_hashes[token] = value
    return value


def simhash(tokens: list[str]) -> int:
    """64-bit SimHash over token counts, as a signed integer for a BIGINT column: bit i is
    set when the tokens whose hash has bit i outweigh those whose hash has not."""
    return simhashes([tokens])[0]


def simhashes(token_lists: list[list[str]]) -> list[int]:
    """`simhash` of each token list, computed for the whole batch with one set of array
    operations (one per text cost ~10 NumPy calls, more than the arithmetic).

    A token counted n times weighs n, which is the same as each occurrence weighing one: so
    the bits of every occurrence's hash are counted per text (one reduceat over the
    occurrences' bits), and bit i is set where more than half of the text's tokens have it.
    ~1.4x faster than counting tokens and summing signed weights per bit (NumPy only: the
    worker starts without SciPy)."""
    sizes = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    total = int(sizes.sum())
    if not total:
        return [0] * len(token_lists)
    known = _token_hashes.get
    hashes = np.fromiter(
        (known(token) or _token_hash(token) for token in itertools.chain.from_iterable(token_lists)),
        dtype="<u8", count=total,
    )
    # Column i is bit i of each hash (little-endian bytes, least significant bit first).
    bits = np.unpackbits(hashes.view(np.uint8).reshape(total, 8), axis=1, bitorder="little")
    present = sizes > 0
    starts = (np.cumsum(sizes) - sizes)[present]
    set_bits = np.zeros((len(token_lists), 64), dtype=bool)
    set_bits[present] = 2 * np.add.reduceat(bits, starts, axis=0, dtype=np.int32) > sizes[present, None]
    # Bit i of the fingerprint is column i; read as a little-endian int64 it is the signed value.
    return np.packbits(set_bits, axis=1, bitorder="little").view("<i8").ravel().tolist()  # type: ignore[no-any-return]


def bands(fingerprint: int) -> tuple[int, int, int, int]:
    unsigned = fingerprint & ((1 << 64) - 1)
    return tuple((unsigned >> (16 * i)) & 0xFFFF for i in range(4))  # type: ignore[return-value]


DUPLICATE_CANDIDATE_LIMIT = 50_000


def find_duplicates(items: list[tuple[int, int, Any]]) -> dict[int, int]:
    """For (case id, fingerprint, created_at) items, the id of the case each one repeats:
    the earliest recent triaged case (or earlier item of the same batch) within the
    configured distance, followed to the case it itself repeats. One query per batch."""
    if not items:
        return {}
    max_distance = settings.TRIAGE_DUPLICATE_MAX_DISTANCE
    since = timezone.now() - timedelta(days=settings.TRIAGE_DUPLICATE_WINDOW_DAYS)
    item_bands = [sorted({bands(fp)[i] for _id, fp, _at in items}) for i in range(4)]
    own = [case_id for case_id, _fp, _at in items]
    if connection.vendor == "postgresql":
        candidates = _duplicate_candidates_postgresql(item_bands, own, since)
    else:
        query = Q()
        for i in range(4):
            query |= Q(**{f"fp_band{i}__in": item_bands[i]})
        candidates = list(
            Case.objects.filter(query, created_at__gte=since, fingerprint__isnull=False)
            .exclude(pk__in=own)
            .order_by("created_at", "pk")
            .values_list("pk", "fingerprint", "duplicate_of_id")[:DUPLICATE_CANDIDATE_LIMIT]
        )
    return match_duplicates(items, candidates, max_distance)


def _duplicate_candidates_postgresql(item_bands: list[list[int]], own: list[int], since: Any) -> list[Any]:
    """The ORM query of find_duplicates with each list as one array parameter: the same
    plan (PostgreSQL reads `IN (…)` as `= ANY (array)`), without preparing, quoting and
    splitting some 500 separate parameters, which cost the worker more than the server
    spent on the query."""
    table = connection.ops.quote_name(Case._meta.db_table)
    sql = (f"SELECT id, fingerprint, duplicate_of_id FROM {table} "  # noqa: S608 - the model's own table name
           "WHERE (fp_band0 = ANY(%s) OR fp_band1 = ANY(%s) OR fp_band2 = ANY(%s) OR fp_band3 = ANY(%s)) "
           "AND created_at >= %s AND fingerprint IS NOT NULL AND NOT (id = ANY(%s)) "
           "ORDER BY created_at, id LIMIT %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*item_bands, since, own, DUPLICATE_CANDIDATE_LIMIT])
        return cursor.fetchall()


def match_duplicates(items: list[tuple[int, int, Any]], candidates: Sequence[tuple[int, int | None, int | None]],
                     max_distance: int) -> dict[int, int]:
    """find_duplicates without the query: `candidates` are (id, fingerprint, duplicate_of)
    of earlier cases, oldest first. An item repeats the first candidate within
    `max_distance` (its root if it repeats another), else the first earlier item of the batch
    within it (that item's own answer if it has one)."""
    found: dict[int, int] = {}
    if not items:
        return found
    # Items x candidates distances as array operations, a block of candidates at a time
    # (the first close candidate in query order wins, as a loop over them would find it).
    fingerprints = _unsigned([fingerprint for _id, fingerprint, _at in items])
    waiting = np.arange(len(items))
    for start in range(0, len(candidates), _DISTANCE_BLOCK):
        block = candidates[start:start + _DISTANCE_BLOCK]
        close = _distances(fingerprints[waiting], _unsigned([fp or 0 for _pk, fp, _root in block])) <= max_distance
        hit = close.any(axis=1)
        for row, column in zip(waiting[hit].tolist(), close[hit].argmax(axis=1).tolist(), strict=True):
            pk, _fp, root = block[column]
            found[items[row][0]] = root or pk
        waiting = waiting[~hit]
        if not len(waiting):
            break
    # Within the batch, a later report repeats an earlier one that found no older case.
    ordered = sorted(items, key=lambda item: (item[2], item[0]))
    batch = _unsigned([fingerprint for _id, fingerprint, _at in ordered])
    earlier = np.tril(_distances(batch, batch) <= max_distance, k=-1)
    firsts = np.where(earlier.any(axis=1), earlier.argmax(axis=1), -1).tolist()
    for (case_id, _fingerprint, _at), first in zip(ordered, firsts, strict=True):
        if case_id in found or first < 0:
            continue
        earlier_id = ordered[first][0]
        found[case_id] = found.get(earlier_id, earlier_id)
    return found


_DISTANCE_BLOCK = 4096  # candidates per distance matrix: 100 items x 4096 x 8 bytes at most


def _unsigned(fingerprints: list[int]) -> np.ndarray:
    """Signed 64-bit fingerprints (as stored) as the same bits, unsigned."""
    return np.array(fingerprints, dtype=np.int64).view(np.uint64)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance of every fingerprint of `a` to every one of `b` (len(a) x len(b))."""
    return np.bitwise_count(a[:, None] ^ b[None, :])


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


@dataclass(frozen=True)
class DecisionInput:
    text: str  # title, body and place detail, decrypted in memory by the caller
    chosen_matter_type: str = ""
    area_code: str = ""
    accused: str = ""


def decide(*, text: str, chosen_matter_type: str, area_code: str, accused: str) -> Decision:
    """Decide everything for one report's text (decrypted in memory by the caller)."""
    return decide_many([DecisionInput(text=text, chosen_matter_type=chosen_matter_type, area_code=area_code, accused=accused)])[0]


def decide_many(items: list[DecisionInput]) -> list[Decision]:
    """Decisions for a batch: each text is segmented once, and the classifier, the rules
    and the departments are consulted once for the whole batch."""
    if not items:
        return []
    version = _routing_version()  # one shared-cache read per batch for both caches
    _gazetteer(version=version, check=True)  # up to date, and in jieba's dictionary before segmenting
    snapshot = routing_snapshot(version, checked=True)
    fulls = [f"{item.text}\n{item.accused}" for item in items]
    prepared = [clf.prepare_one(full) for full in fulls]
    tokens = [toks for toks, _chars in prepared]
    model = active_model()
    version = ""
    predictions: list[clf.Prediction | None] = [None] * len(items)
    if model is not None:
        version, classifier = model
        predictions = list(classifier.explain_prepared(prepared))
    fingerprints = simhashes(tokens)
    return [
        _decide_one(item, full, prediction, version, snapshot, fingerprint)
        for item, full, prediction, fingerprint in zip(items, fulls, predictions, fingerprints, strict=True)
    ]


def _decide_one(
    item: DecisionInput, full: str, prediction: clf.Prediction | None, version: str, snapshot: RoutingSnapshot,
    fingerprint: int,
) -> Decision:
    decision = Decision()
    decision.fingerprint = fingerprint
    explanation: dict[str, Any] = {}

    if prediction is not None:
        decision.model_version = version
        decision.category = snapshot.categories.get(prediction.label)
        decision.confidence = round(prediction.confidence, 4)
        explanation["category"] = {
            "label": prediction.label,
            "confidence": round(prediction.confidence, 3),
            "alternatives": prediction.alternatives,
            "terms": prediction.terms,
        }

    found = snapshot.terms_in(full)  # the rule functions ask `term in found`, as `term in full`
    decision.matter_type, matter_terms = decide_matter_type(found, item.chosen_matter_type, snapshot)
    explanation["matter_type"] = {"label": decision.matter_type, "chosen": item.chosen_matter_type, "terms": matter_terms}
    urgent_terms = decide_urgency(found, snapshot)
    decision.urgent = bool(urgent_terms)
    if urgent_terms:
        explanation["urgent_terms"] = urgent_terms

    decision.place = place_for_code(item.area_code) if item.area_code else None
    if decision.place is None:
        decision.place = extract_place(full)
        if decision.place:
            explanation["place_from_text"] = True
    if decision.place:
        explanation["place"] = decision.place.code

    reasons: list[str] = []
    if decision.matter_type == MatterType.ACCUSATION:
        decision.violation, violation_terms = decide_violation(found, snapshot)
        level = accused_level(found)
        county_leader = any(term in found for term in COUNTY_LEADER_TERMS)
        decision.department = discipline_department(decision.place, level, county_leader=county_leader, snapshot=snapshot)
        explanation["discipline"] = {"violation": decision.violation, "terms": violation_terms, "accused_level": level}
    else:
        ruled, rule_terms = route_by_rules(found, decision.place, snapshot)
        if len(ruled) > 1:
            reasons.append("conflicting_rules")
            explanation["rules"] = {"terms": rule_terms, "departments": [d.code for d in ruled]}
        elif ruled:
            decision.department = ruled[0]
            explanation["rules"] = {"terms": rule_terms, "departments": [ruled[0].code]}
        elif decision.category and decision.place:
            decision.department = functional_department(decision.category, decision.place, snapshot)

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
