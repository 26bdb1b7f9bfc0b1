"""Category classifier: jieba words plus character n-grams, TF-IDF, calibrated NB-SVM
(one-vs-rest linear SVMs on features scaled by naive Bayes log-count ratios).

Raw citizen text is normalised the way the training data was prepared (whitespace, URLs,
phone numbers and masked place codes removed, full-width forms folded, digits folded,
salutations, stop words and punctuation dropped), so a message with greetings and noise
looks like the cleaned board messages it learnt from.

Segmentation is jieba's precise mode (run by `cut_precise`, jieba's algorithm over its
dictionary in a faster loop) with a user dictionary: the domain terms of
`domain_terms.txt` (loaded before the first segmentation of every process, so training
and inference cut text the same way) plus the gazetteer's place names, which the caller
adds with `add_user_words` (the triage worker, `train_classifier` and
`evaluate_classifier` all do, through `triage.decide.load_place_words`).

Nothing here imports scikit-learn: the pipeline and its training are in `triage.learning`,
serving in `triage.serving` (numpy only), so the worker and web processes never load it.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import logging
import marshal
import math
import re
import tempfile
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jieba

jieba.setLogLevel(logging.WARNING)
logger = logging.getLogger(__name__)

DOMAIN_TERMS = Path(__file__).with_name("domain_terms.txt")
RAW_STOP_WORDS = Path(__file__).with_name("raw_stop_words.txt")
# jieba's HMM guesses words outside the dictionary. Off: 5-fold CV on the train split gave
# the same macro-F1 (0.9292 ± 0.0044 against 0.9291 ± 0.0048 with it; simulated raw texts
# 0.9293 against 0.9289), and segment() ran ~17 % faster (836 against 713 texts/s).
HMM = False

_URL = re.compile(r"(https?://|www\.)[\x21-\x7e]*", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\d)(\+?86[- ]?)?(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")
_CODE = re.compile(r"[A-Za-z]+\d+")  # the dataset masks places as A1区, B3县 …
_DIGITS = re.compile(r"\d+")
# A term worth showing in an explanation has a letter or a CJK character besides the
# placeholders normalisation leaves ("0" for digits, "某" for masked place codes).
_READABLE_TERM = re.compile(r"[^\W\d_某]")
_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[\s，。！？、；：“”‘’（）()《》【】\[\]<>,.!?;:'\"…\-—~·/\\|@#$%^&*+=_`]+")


def read_word_list(path: Path) -> list[str]:
    """Whitespace-separated words of a word list; `#` starts a comment."""
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words.extend(line.split("#", 1)[0].split())
    return words


# Function words, greetings and sign-offs that carry no topic (the training texts had
# them removed by their publisher; raw reports still have them): a hand list plus the
# words the publisher removed, as measured on raw board messages (raw_stop_words.txt).
STOP_WORDS = frozenset(
    (
        "的 了 和 是 在 我 我们 你 你们 他 他们 她 它 这 那 这个 那个 这些 那些 就 也 "
        "都 而 及 与 或 被 把 给 对 从 向 到 于 吗 呢 吧 啊 呀 哦 嗯 么 着 过 很 "
        "还 又 再 并 但 但是 而且 因为 所以 如果 虽然 可是 只是 已经 一直 一下 一些 一个 "
        "有 没有 不 没 会 能 要 想 让 请 请问 您好 你好 尊敬 尊敬的 领导 各位 谢谢 感谢 "
        "非常感谢 此致 敬礼 麻烦 希望 恳请 一位 市民 本人 特此 反映 留言 您 之 其 此 该 "
        "等 等等 啥 怎么 怎么办 什么 为什么 如何 哪里 哪些 谁 多少 几 个 为 以 上 下 中 "
    ).split()
)
USE_RAW_STOP_WORDS = True


# Full-width ASCII forms, the ideographic space and the ellipsis, each replaced by its
# compatibility decomposition before NFKC. NFKC composes the compatibility decomposition of
# the text, which this leaves as it was, so the result is the same; but punctuation like
# "，" made NFKC decompose and recompose the whole text, and without it the quick check
# finds most texts already normalised.
_FOLD_FIRST = {
    chr(code): unicodedata.normalize("NFKD", chr(code))
    for code in (*range(0xFF01, 0xFF5F), 0x3000, 0x2026)
    if unicodedata.normalize("NFKD", chr(code)).isascii() and unicodedata.normalize("NFKD", chr(code)) != chr(code)
}
# The fold as one scan for those characters (a text has ~20 of them in ~400): ~2.5x faster
# than str.translate, which looks every character up in the mapping.
_FOLDABLE = re.compile("[" + "".join(map(re.escape, _FOLD_FIRST)) + "]")
_fold_one = _FOLD_FIRST.__getitem__
_SEVEN_DIGITS = re.compile(r"\d{7}")  # every phone number _PHONE matches has seven digits in a row


def normalize(text: str) -> str:
    """Full-width forms folded (ＡＢ１２ → AB12), URLs, e-mail addresses, phone numbers and
    whitespace removed, masked place codes and digits folded."""
    text = unicodedata.normalize("NFKC", _FOLDABLE.sub(lambda found: _fold_one(found.group()), text or ""))
    # Each pattern only on a text it can match (a check much cheaper than its scan): a URL
    # starts with http or www (ASCII letters, in any case), an address has an @.
    lowered = text.lower()
    if "http" in lowered or "www" in lowered:
        text = _URL.sub("", text)
    if "@" in text:
        text = _EMAIL.sub("", text)
    if _SEVEN_DIGITS.search(text):
        text = _PHONE.sub("", text)
    text = "".join(text.split())  # = _SPACE.sub("", text): str.split and \s agree on every code point
    text = _CODE.sub("某", text)
    return _DIGITS.sub("0", text)


_dict_lock = threading.Lock()
_user_words: set[str] = set()
_lexicon: dict[str, Any] = {"stop": None}


def initialize_jieba(tokenizer: jieba.Tokenizer | None = None) -> None:
    """`jieba.initialize()`, with jieba's dictionary cache read in one piece.

    jieba loads its cache (a marshal dump of ~500,000 prefix entries) with `marshal.load`
    on the open file, which reads it in many small pieces: ~0.9 s on two slow cores, against
    ~0.25 s for `marshal.loads` of the same bytes read at once. It is the largest part of a
    worker's start. Same cache file, same rule as jieba's for its default dictionary (a
    cache that exists is used); anything else (another dictionary, no cache yet, a cache
    that does not load) is left to jieba, which builds and writes the cache."""
    tokenizer = tokenizer or jieba.dt
    if not tokenizer.initialized and tokenizer.dictionary == jieba.DEFAULT_DICT and not tokenizer.cache_file:
        cache = Path(tokenizer.tmp_dir or tempfile.gettempdir()) / "jieba.cache"
        with tokenizer.lock:
            if not tokenizer.initialized:
                try:
                    freq, total = marshal.loads(cache.read_bytes())  # noqa: S302 - the file jieba itself loads with marshal
                except (OSError, EOFError, ValueError, TypeError):
                    freq, total = None, None
                if isinstance(freq, dict) and freq and isinstance(total, int) and total > 0:
                    tokenizer.FREQ, tokenizer.total = freq, total
                    tokenizer.initialized = True
    tokenizer.initialize()


# jieba's own patterns for precise mode: the runs it cuts with its dictionary, what it keeps
# whole between them, and the single letters or digits it joins.
_RE_HAN, _RE_SKIP, _RE_ENG = jieba.re_han_default, jieba.re_skip_default, jieba.re_eng


def cut_precise(sentence: str, tokenizer: jieba.Tokenizer | None = None) -> list[str]:
    """`tokenizer.lcut(sentence, HMM=False)`: the same words, about twice as fast.

    jieba's precise mode finds, in each run of Chinese characters and letters/digits, the
    most probable path through the words of its dictionary (`get_DAG`, then `calc` with
    `max` over a generator of tuples, then a generator yielding the words). This is that
    algorithm, with the dictionary look-ups, the dynamic programme and the walk in one loop
    per run: the same words from the same dictionary (`FREQ`, `total`, as `add_word`
    leaves them), the same floating-point sums in the same order, and the same choice
    between equal scores (the longer word, as `max` on (score, end) tuples picks). Outside
    the runs, jieba's rules are kept: each whitespace character (or CR LF) is one word, and
    so is every other character. The tests check it against jieba on the shared datasets'
    texts."""
    tokenizer = tokenizer or jieba.dt
    tokenizer.check_initialized()
    freq = tokenizer.FREQ.get
    logtotal = math.log(tokenizer.total)
    words: list[str] = []
    for block in _RE_HAN.split(sentence):
        if not block:
            continue
        if _RE_HAN.match(block):
            _cut_run(block, freq, logtotal, words)
        else:
            for part in _RE_SKIP.split(block):
                if _RE_SKIP.match(part):
                    words.append(part)
                else:
                    words.extend(part)
    return words


def _cut_run(run: str, freq: Any, logtotal: float, words: list[str]) -> None:
    """The words of one run of characters jieba's precise mode cuts, appended to `words`."""
    log = math.log
    n = len(run)
    score = [0.0] * (n + 1)  # score[k]: the best path's log-probability from position k on
    end = [0] * (n + 1)  # end[k]: where the first word of that path ends
    for k in range(n - 1, -1, -1):
        best = 0.0
        best_end = 0
        i = k + 1
        count = freq(run[k])
        while count is not None:  # a prefix of some word of the dictionary (count 0 if only that)
            if count:
                value = log(count) - logtotal + score[i]
                if not best_end or value >= best:
                    best, best_end = value, i
            if i >= n:
                break
            i += 1
            count = freq(run[k:i])
        if not best_end:  # no word starts here: the character alone, with count 1 (log 1 = 0)
            best, best_end = 0.0 - logtotal + score[k + 1], k + 1
        score[k] = best
        end[k] = best_end
    # Walk the path; single letters or digits in a row are joined into one word, as jieba does.
    x = 0
    pending = ""
    while x < n:
        y = end[x]
        word = run[x:y]
        if y - x == 1 and _RE_ENG.match(word):
            pending += word
        else:
            if pending:
                words.append(pending)
                pending = ""
            words.append(word)
        x = y
    if pending:
        words.append(pending)


def _load_lexicon() -> frozenset[str]:
    """Domain terms into jieba's dictionary and the stop words, once per process, before
    the first segmentation: training and inference see the same dictionary."""
    stop = _lexicon["stop"]
    if stop is not None:
        return stop  # type: ignore[no-any-return]
    with _dict_lock:
        if _lexicon["stop"] is None:
            initialize_jieba()
            if DOMAIN_TERMS.is_file():
                for word in read_word_list(DOMAIN_TERMS):
                    _add_word(word)
            extra = read_word_list(RAW_STOP_WORDS) if USE_RAW_STOP_WORDS and RAW_STOP_WORDS.is_file() else []
            _lexicon["stop"] = STOP_WORDS | frozenset(extra)
        return _lexicon["stop"]  # type: ignore[no-any-return]


def _add_word(word: str) -> None:
    """Keep a word whole: add it unless jieba already cuts it out as one word, with the
    smallest frequency that makes it win (a higher one would also pull it out of longer
    words it is part of; a word jieba already knows keeps its own frequency)."""
    if len(word) < 2 or word in _user_words:
        return
    _user_words.add(word)
    if cut_precise(word) != [word]:
        jieba.add_word(word, freq=jieba.suggest_freq(word, tune=False))


def add_user_words(words: list[str]) -> None:
    """Teach jieba gazetteer names so they stay whole."""
    _load_lexicon()
    with _dict_lock:
        for word in words:
            if word and word not in _user_words and len(word) >= 2:
                jieba.add_word(word, freq=2000)
                _user_words.add(word)


_kept: dict[str, bool] = {}  # token -> kept by segment(); tokens repeat, the checks need not


def _keep(token: str, stop: frozenset[str]) -> bool:
    kept = _kept.get(token)
    if kept is None:
        kept = bool(token.strip()) and not _PUNCT.fullmatch(token) and token not in stop
        if len(_kept) < 500_000:
            _kept[token] = kept
    return kept


# Salutations and sign-offs of raw messages; the board's published texts had none.
_GREETING_ALTERNATIVES = (
    r"(尊敬的[^，。！？,!?：:]{0,6}?(领导|同志|书记|市长|局长|主任|部门|政府)(们|您好|你好)?[：:，,]?|"
    r"(领导|大家|各位)?(您|你)好[！!，,。]*|各位领导[：:，,]?|"
    r"(非常|十分)?(感谢|谢谢)(您|你们|领导)?[！!。]*|此致敬礼|此致|敬礼[！!]?)"
)
# Every alternative starts with one of these characters. The look-ahead matches nothing
# itself (the same matches), but lets the scan pass any other position at once: with the
# optional groups in front, re tried every alternative at every character (~7x slower).
_GREETING_FIRST = "尊领大各您你非十感谢此敬"
_GREETINGS = re.compile(f"(?=[{_GREETING_FIRST}])" + _GREETING_ALTERNATIVES)
# Every alternative of _GREETINGS contains one of these: a text with none is left as it is.
_GREETING_HINTS = ("尊敬的", "您好", "你好", "各位领导", "感谢", "谢谢", "此致", "敬礼")
STRIP_GREETINGS_BEFORE_SEGMENTING = True


def segment(text: str) -> list[str]:
    """Precise-mode jieba tokens of normalised text, without salutations, punctuation or
    stop words."""
    stop = _load_lexicon()
    clean = normalize(text)
    if STRIP_GREETINGS_BEFORE_SEGMENTING and any(hint in clean for hint in _GREETING_HINTS):
        clean = _GREETINGS.sub("，", clean)
    known = _kept.get  # the cached answer first: a function call per token costs more than the check
    words = jieba.lcut(clean, HMM=True) if HMM else cut_precise(clean)
    return [w for w in words if (kept := known(w)) or (kept is None and _keep(w, stop))]


CHAR_TEXT_FROM_TOKENS = True


def content_text(text: str, tokens: list[str] | None = None) -> str:
    """The text the character n-grams see. Like the training texts: normalised, without
    salutations, stop words or punctuation (the kept tokens joined together)."""
    if CHAR_TEXT_FROM_TOKENS:
        return "".join(segment(text) if tokens is None else tokens)
    return _GREETINGS.sub("", normalize(text))


def prepare_one(text: str) -> tuple[list[str], str]:
    """What the pipeline takes for one text: its tokens and its character text."""
    tokens = segment(text)
    return tokens, content_text(text, tokens)


def tokenize(text: str) -> list[str]:
    """Tokenizer used inside the fitted pipeline (module level so it pickles)."""
    return segment(text)


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    alternatives: list[tuple[str, float]]
    terms: list[str]


def _words(tokens: list[str]) -> list[str]:
    """Word unigrams and bigrams (a bigram is written with a space between its words)."""
    return [*tokens, *(f"{a} {b}" for a, b in itertools.pairwise(tokens))]


def segmenter_signature() -> str:
    """What decides how text is cut: the HMM switch and digests of the word lists. Stored
    with a model; a model served under another signature is logged (it still works, but
    sees tokens cut differently from its training)."""
    digest = hashlib.sha256(f"hmm={HMM};raw_stop={USE_RAW_STOP_WORDS};chars={CHAR_TEXT_FROM_TOKENS}".encode())
    for path in (DOMAIN_TERMS, RAW_STOP_WORDS):
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()[:16]


# Moved to triage.learning (scikit-learn). Resolved on first use: pipelines pickled before
# the move name triage.classifier.Part and .NBSVM, and unpickling finds them here; importing
# this module must not import scikit-learn.
_MOVED_TO_LEARNING = frozenset({"Classifier", "NBSVM", "Part", "build_pipeline", "fit"})


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_LEARNING:
        return getattr(importlib.import_module("triage.learning"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
