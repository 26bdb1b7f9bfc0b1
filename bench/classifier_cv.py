"""Stratified 5-fold CV of the category classifier on the TRAIN split only, on clean
validation texts and on the same texts made to look like raw citizen messages.

    .venv/bin/python bench/classifier_cv.py [--seed 42] [--set HMM=0 ...]

`--set NAME=0|1` flips a switch of triage/classifier.py for the run (HMM,
USE_RAW_STOP_WORDS, CHAR_TEXT_FROM_TOKENS, STRIP_GREETINGS_BEFORE_SEGMENTING) or, with
DOMAIN_TERMS=0, runs without the domain-term dictionary. Nothing of the test split is read.

The "raw" variant of a validation text (seeded, the same for every configuration) is
built from the publisher's tokens of that row, re-inserting what raw board messages have
and the published texts lost:
- a salutation before it (60 %) and a sign-off after it (60 %), from GREETINGS/SIGN_OFFS;
- after each token, with 12 % a function word, drawn by frequency from the words the
  publisher removed (triage/raw_stop_words.txt, first 60), with 15 % punctuation (one in
  ten repeated three times), with 3 % a space or a line break;
- in 30 % of texts, digits and Latin letters in full-width forms (１２３ＡＢ);
- in 20 % a mobile phone number, in 10 % a URL.
The function words and salutations overlap the lists the normaliser removes, so this is
a check of the normaliser working as designed, optimistic for text it has not met.

"twins": some train rows are also, raw (title, body, punctuation, stop words), in
messages_unlabelled.csv or messages_with_replies.csv. A raw message is a row's twin when
at least half of the row's character 4-grams (Chinese characters only) occur in it. Each
fold also predicts the raw twins of its validation rows; macro-F1 is over all twins,
pooled across the folds (with the clean texts of the same rows for comparison).

Result of 2026-11-25 (seed 42, production pipeline): clean 0.9292 (sd 0.0046), simulated
raw 0.9293, twins n=204: raw 0.868, clean 0.884. The twins' gap is two messages: the
model gives the raw and the clean form the same label for 202 of the 204 (both misses on
the raw side are messages whose raw title or body says more than the published text:
a fire-safety complaint before the labour one). The twins score below the whole split on
their clean form too: they are harder rows, not worse handled raw.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

import jieba
import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.classifier_lexicon import mine_terms  # noqa: E402
from triage import classifier as clf  # noqa: E402
from triage import learning  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "messages_labelled.csv"
GREETINGS = ["尊敬的领导：您好！", "您好，", "尊敬的市长：", "各位领导好！", "领导您好：", "尊敬的相关部门领导，", "你好！"]
SIGN_OFFS = ["谢谢！", "望领导重视，谢谢！！", "此致敬礼！", "恳请相关部门尽快处理，谢谢。", "感谢您的关注与回复！", "盼回复。"]
PUNCTUATION = "，，，。。！？、；："
FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}


def function_words() -> list[str]:
    words: list[str] = []
    for line in (ROOT / "triage" / "raw_stop_words.txt").read_text(encoding="utf-8").splitlines():
        words.extend(line.split("#", 1)[0].split())
    return words[:60]


def raw_like(tokens: list[str], rng: random.Random, fillers: list[str], weights: list[float]) -> str:
    parts = [rng.choice(GREETINGS)] if rng.random() < 0.6 else []
    for token in tokens:
        parts.append(token)
        if rng.random() < 0.12:
            parts.append(rng.choices(fillers, weights)[0])
        if rng.random() < 0.15:
            mark = rng.choice(PUNCTUATION)
            parts.append(mark * 3 if rng.random() < 0.1 else mark)
        if rng.random() < 0.03:
            parts.append(rng.choice([" ", "\n"]))
    if rng.random() < 0.6:
        parts.append(rng.choice(SIGN_OFFS))
    text = "".join(parts)
    if rng.random() < 0.3:
        text = "".join(FULL_WIDTH.get(c, c) for c in text)
    if rng.random() < 0.2:
        text += f"联系电话：1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}"
    if rng.random() < 0.1:
        text += f"详见 http://www.example.cn/thread-{rng.randint(1, 99999)}.html"
    return text


def _han(text: str) -> str:
    return "".join(c for c in text if "\u4e00" <= c <= "\u9fff")


def raw_twins(rows: list[dict[str, str]]) -> dict[int, str]:
    """Row index -> raw title and body of the same message (see the module docstring)."""
    grams: dict[str, set[int]] = {}
    sizes = []
    for i, row in enumerate(rows):
        text = _han(row["text"])
        own = {text[k : k + 4] for k in range(max(1, len(text) - 3))}
        sizes.append(len(own))
        for gram in own:
            grams.setdefault(gram, set()).add(i)
    twins: dict[int, str] = {}
    for name in ("messages_unlabelled.csv", "messages_with_replies.csv"):
        with (DATA.parent / name).open(encoding="utf-8") as handle:
            for raw in csv.DictReader(handle):
                text = _han(raw["title"] + raw["body"])
                shared: dict[int, int] = {}
                for gram in {text[k : k + 4] for k in range(max(1, len(text) - 3))}:
                    for i in grams.get(gram, ()):
                        shared[i] = shared.get(i, 0) + 1
                for i, n in shared.items():
                    if n >= 0.5 * sizes[i]:
                        twins.setdefault(i, f"{raw['title']}\n{raw['body']}")
    return twins


def fresh_dictionary(extra_terms: list[str]) -> None:
    """jieba's own dictionary again, then the classifier's lexicon, then `extra_terms`."""
    jieba.dt.initialized = False
    jieba.dt.initialize()
    clf._user_words.clear()
    clf._lexicon["stop"] = None
    clf._kept.clear()
    clf._load_lexicon()
    for term in extra_terms:
        clf._add_word(term)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=0|1")
    parser.add_argument("--tag", default="")
    parser.add_argument("--mine", action="store_true", help="add terms mined (mine_terms) from each fold's training part")
    args = parser.parse_args()
    for item in args.set:
        name, _, value = item.partition("=")
        if name == "DOMAIN_TERMS":
            if value == "0":
                clf.DOMAIN_TERMS = ROOT / "no-such-file"
        else:
            assert hasattr(clf, name), name
            setattr(clf, name, value == "1")
    with DATA.open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == "train"]
    texts = [r["text"] for r in rows]
    labels = np.array([r["label"] for r in rows])
    fillers = function_words()
    weights = [1 / (i + 5) for i in range(len(fillers))]  # Zipf-like: 的, 在, 是 … most often
    rng = random.Random(1234)
    raw = [raw_like(r["tokens"].split(), rng, fillers, weights) for r in rows]
    twins = raw_twins(rows)
    twin_truth: list[str] = []
    twin_pred: list[str] = []
    twin_clean: list[str] = []
    clean_scores, raw_scores = [], []
    started = time.perf_counter()
    for train, valid in StratifiedKFold(5, shuffle=True, random_state=args.seed).split(texts, labels):
        if args.mine:
            fresh_dictionary([])
            fresh_dictionary(mine_terms([clf.segment(texts[i]) for i in train], list(labels[train])))
        model = learning.fit([texts[i] for i in train], list(labels[train]))
        clean_scores.append(f1_score(labels[valid], model.predict([texts[i] for i in valid]), average="macro"))
        raw_scores.append(f1_score(labels[valid], model.predict([raw[i] for i in valid]), average="macro"))
        mine = [i for i in valid if i in twins]
        twin_truth += list(labels[mine])
        twin_pred += model.predict([twins[i] for i in mine])
        twin_clean += model.predict([texts[i] for i in mine])
    result = {
        "tag": args.tag, "set": args.set, "seed": args.seed, "mine": args.mine,
        "clean": {"mean": round(float(np.mean(clean_scores)), 4), "sd": round(float(np.std(clean_scores)), 4),
                  "folds": [round(s, 4) for s in clean_scores]},
        "raw": {"mean": round(float(np.mean(raw_scores)), 4), "sd": round(float(np.std(raw_scores)), 4),
                "folds": [round(s, 4) for s in raw_scores]},
        "twins": {"n": len(twin_truth), "raw": round(float(f1_score(twin_truth, twin_pred, average="macro")), 4),
                  "clean": round(float(f1_score(twin_truth, twin_clean, average="macro")), 4)},
        "seconds": round(time.perf_counter() - started),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
