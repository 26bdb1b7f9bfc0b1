"""Regenerate triage/raw_stop_words.txt: the words the dataset's publisher removed.

The labelled messages arrive with their publisher's stop words removed; raw reports still
have them. Rule: a jieba token (precise mode, jieba's own dictionary) of the raw board
messages in ../shared/datasets/messages_unlabelled.csv (title + body) that occurs in at
least MIN_DF of them, contains a Chinese character, never occurs in the `tokens` column
of the labelled TRAIN split, occurs (as a substring) in a smaller share of the train texts
than of the raw messages (so a word kept inside longer training words, like 保险 in
养老保险, stays), and is not in triage/domain_terms.txt. No label is used, and nothing of
the test split.

    .venv/bin/python bench/classifier_lexicon.py [--min-df 20]

`mine_terms` is the candidate rule for domain terms mined from training texts (compounds of
two adjacent tokens that stick together and point at one category); bench/classifier_cv.py
--mine measures it, mining inside each fold's training part only.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import logging
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import jieba

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from triage.classifier import DOMAIN_TERMS, read_word_list  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
OUT = ROOT / "triage" / "raw_stop_words.txt"
HAN = re.compile(r"[\u4e00-\u9fff]")


def mine_terms(token_lists: list[list[str]], labels: list[str], *, min_df: int = 10, cohesion: float = 0.3,
               purity: float = 0.8) -> list[str]:
    """Compounds a+b of adjacent Chinese tokens (each of 2+ characters, together at most 6)
    found in at least `min_df` texts, in at least `cohesion` of the texts of the rarer of
    a and b, and with at least `purity` of their texts in one category."""
    han = re.compile(r"^[\u4e00-\u9fff]{2,}$")
    df: Counter[str] = Counter()
    pair_df: Counter[tuple[str, str]] = Counter()
    pair_labels: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for tokens, label in zip(token_lists, labels, strict=True):
        df.update(set(tokens))
        pairs = {(a, b) for a, b in itertools.pairwise(tokens) if han.match(a) and han.match(b) and len(a) + len(b) <= 6}
        pair_df.update(pairs)
        for pair in pairs:
            pair_labels[pair][label] += 1
    return sorted(
        a + b for (a, b), n in pair_df.items()
        if n >= min_df and n >= cohesion * min(df[a], df[b]) and max(pair_labels[(a, b)].values()) >= purity * n
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-df", type=int, default=20)
    args = parser.parse_args()
    jieba.setLogLevel(logging.WARNING)
    with (DATA / "messages_labelled.csv").open(encoding="utf-8") as handle:
        train = [row for row in csv.DictReader(handle) if row["split"] == "train"]
    seen = {t for row in train for t in row["tokens"].split()}
    train_texts = [row["text"] for row in train]
    with (DATA / "messages_unlabelled.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    df: Counter[str] = Counter()
    for row in rows:
        df.update(set(jieba.lcut(f"{row['title']}\n{row['body']}")))
    raw_texts = [f"{row['title']}{row['body']}" for row in rows]
    domain = set(read_word_list(DOMAIN_TERMS))
    candidates = [w for w, n in df.items() if n >= args.min_df and HAN.search(w) and w not in seen and w not in domain]

    def share(word: str, texts: list[str]) -> float:
        return sum(word in t for t in texts) / len(texts)

    words = sorted((w for w in candidates if share(w, train_texts) < share(w, raw_texts)), key=lambda w: (-df[w], w))
    header = (
        "# Words the publisher of messages_labelled.csv removed: jieba tokens of raw board messages\n"
        f"# (messages_unlabelled.csv, title + body) in at least {args.min_df} messages, never in the\n"
        "# `tokens` column of the labelled train split, rarer inside train texts than raw ones, not a\n"
        "# domain term (the full rule: bench/classifier_lexicon.py, which generated this file).\n"
        "# The classifier drops them from raw text, as they were dropped from its training text.\n"
    )
    lines = [" ".join(words[i : i + 20]) for i in range(0, len(words), 20)]
    OUT.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(words)} words -> {OUT}")


if __name__ == "__main__":
    main()
