"""Knowledge-base relevance: words by jieba (Chinese and English alike), English stems by Snowball, BM25+ ranking."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import jieba  # type: ignore[import-untyped]
import snowballstemmer  # type: ignore[import-untyped]

jieba.setLogLevel(logging.WARNING)
_ready = threading.Lock()
TITLE_WEIGHT = 2  # a word in the title counts as much as it appearing twice in the body


def prepare() -> None:
    """Load jieba's dictionary (about a second the first time); searches call it too, so this only warms up."""
    with _ready:
        jieba.initialize()


def terms(text: str) -> list[str]:
    """The searchable words of a text: jieba's search-mode segmentation (which also yields the shorter words
    inside long ones, e.g. 工作日 inside 工作日内), lower-cased, without spaces and punctuation; English words
    by their Snowball stem, so "refunds" finds "refund"."""
    prepare()
    words = [w for w in (t.strip().lower() for t in jieba.lcut_for_search(text)) if any(c.isalnum() for c in w)]
    stemmer = snowballstemmer.stemmer("english")  # per call: a stemmer keeps state while it works
    return [str(stemmer.stemWord(w)) if w.isascii() and w.isalpha() else w for w in words]


def document_terms(title: str, body: str, extra: Sequence[str] = ()) -> list[str]:
    """The words an article is found by: its title (weighted), body, category and shortcut."""
    return terms(title) * TITLE_WEIGHT + terms(body) + [w for e in extra for w in terms(e)]


def rank(query: str, corpus: Sequence[Sequence[str]]) -> list[tuple[int, float]]:
    """(index, score) of the documents holding at least one word of the query, most relevant first.

    BM25+ rather than Okapi: Okapi's idf is zero or negative for a word in half the documents or more, which
    in a small knowledge base hides the very article that holds the word."""
    words = list(dict.fromkeys(terms(query)))
    if not words or not corpus:
        return []
    from rank_bm25 import BM25Plus  # type: ignore[import-untyped]  # here: it loads numpy (~0.2 s at every start)

    scores = BM25Plus([list(doc) or [""] for doc in corpus]).get_scores(words)
    wanted = set(words)
    hits = [(i, float(scores[i])) for i, doc in enumerate(corpus) if wanted.intersection(doc)]
    return sorted(hits, key=lambda hit: (-hit[1], hit[0]))
