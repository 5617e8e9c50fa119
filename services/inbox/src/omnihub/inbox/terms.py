"""Search terms: one analyzer for what is indexed and what is asked (Chinese by character bigrams, Latin folded)."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import jieba  # type: ignore[import-untyped]

MAX_TERM = 64  # longer runs (hashes, base64) are not worth an index entry
MAX_TERMS = 400  # per document: a pasted novel does not blow up the index
PHONE_SUFFIX = 7  # a number is also found by its last 7+ digits (typed without the country code)
# Han, kana and Hangul: no spaces between words, so they are indexed by overlapping character pairs.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(f"[^\\W{_CJK}]+")  # letters, digits and underscores (so ids like cnv_01ab stay whole)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ().-]{5,}\d")
_NUMBER_ID = re.compile(r"(?:whatsapp:)?\+?\d{7,20}")
_STOP = frozenset(["a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "i", "in", "is", "it", "of", "on", "or", "that", "the", "to", "was", "we", "with", "you"])
_jieba_lock = threading.Lock()
_jieba_ready = False


def warm_up() -> None:
    """Load jieba's dictionary now (about a second) rather than on the first search."""
    global _jieba_ready
    with _jieba_lock:
        if not _jieba_ready:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _jieba_ready = True


def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKC (full-width to ASCII), casefold, combining marks dropped."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def digits(text: str) -> str:
    """Only the digits of a phone number or an address like "whatsapp:+8613800138000"."""
    return "".join(ch for ch in text if ch.isdigit())


def _bigrams(run: str) -> Iterable[str]:
    if len(run) == 1:
        yield run
        return
    for i in range(len(run) - 1):
        yield run[i:i + 2]
    yield run[-1]  # the last character alone, so a one-character search (a prefix scan) finds it too


def _suffixes(number: str) -> list[str]:
    """A number and each of its trailing 7+ digits (so it is found typed without the country code)."""
    return [number[i:] for i in range(len(number) - PHONE_SUFFIX + 1)]


def index_terms(*texts: str) -> list[str]:
    """The terms a document is found by: CJK bigrams, folded words, whole emails and phone digits."""
    terms: dict[str, None] = {}
    for text in texts:
        if not text:
            continue
        folded = fold(text)
        for run in _CJK_RUN.findall(folded):
            terms.update(dict.fromkeys(_bigrams(run)))
        for word in _WORD.findall(folded):
            if word not in _STOP and len(word) <= MAX_TERM:
                terms[word] = None
                if "_" in word:
                    terms.update(dict.fromkeys(p for p in word.split("_") if p))
        terms.update(dict.fromkeys(e for e in _EMAIL.findall(folded) if len(e) <= MAX_TERM))
        for phone in _PHONE.findall(folded):
            number = digits(phone)
            if PHONE_SUFFIX <= len(number) <= 20:
                terms.update(dict.fromkeys(_suffixes(number)))
        if len(terms) >= MAX_TERMS:
            break
    return list(terms)[:MAX_TERMS]


def identity_terms(source_id: str) -> list[str]:
    """An identity's terms: a phone number also by each of its trailing 7+ digits."""
    terms = index_terms(source_id)
    if _NUMBER_ID.fullmatch(source_id):
        terms += _suffixes(digits(source_id))
    return list(dict.fromkeys(terms))


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed search: terms every hit has, prefixes a hit has a term starting with, and words to highlight."""

    exact: tuple[str, ...]
    prefixes: tuple[str, ...]
    words: tuple[str, ...]  # folded words as typed (Chinese words from jieba), for checking and highlighting

    @property
    def empty(self) -> bool:
        """Nothing searchable (only stop words or punctuation)."""
        return not self.exact and not self.prefixes

    def driver(self) -> tuple[str, bool]:
        """The term to read the index by (the longest exact one: long terms are rare), and whether it is a prefix."""
        if self.exact:
            return max(self.exact, key=len), False
        return max(self.prefixes, key=len), True

    def matches(self, terms: Iterable[str]) -> bool:
        """Whether a document's terms satisfy every part of the query."""
        have = set(terms)
        if not all(t in have for t in self.exact):
            return False
        return all(any(t.startswith(p) for t in have) for p in self.prefixes)


def parse_query(text: str) -> Query:
    """Split a search box's text the way documents were indexed.

    A Chinese run is cut into words by jieba, and each word must appear (by its bigrams) somewhere,
    not necessarily next to the others; a single character is a prefix of the index's bigrams.
    Latin words match whole (a prefix would have to read the index over all time, not window by window).
    """
    warm_up()
    folded = fold(text.strip())[:200]
    exact: dict[str, None] = {}
    prefixes: dict[str, None] = {}
    words: dict[str, None] = {}
    phone = _PHONE.fullmatch(folded.strip())
    if phone and len(digits(folded)) >= PHONE_SUFFIX:
        number = digits(folded)
        return Query((number,), (), (folded.strip(),))
    for email in _EMAIL.findall(folded):
        exact[email] = None
        words[email] = None
    for run in _CJK_RUN.findall(folded):
        for word in jieba.cut(run):
            words[word] = None
            if len(word) == 1:
                prefixes[word] = None
            else:
                exact.update(dict.fromkeys(word[i:i + 2] for i in range(len(word) - 1)))
    for word in _WORD.findall(folded):
        if word not in _STOP and len(word) <= MAX_TERM:
            words[word] = None
            exact[word] = None
    return Query(tuple(exact), tuple(prefixes), tuple(words))


def contains_words(query: Query, *texts: str) -> bool:
    """Whether every Chinese word of the query occurs as written in one of the texts (bigrams may be apart)."""
    folded = " ".join(fold(t) for t in texts)
    return all(w in folded for w in query.words if _CJK_RUN.fullmatch(w) and len(w) > 2)


def highlight(text: str, query: Query, width: int = 160) -> tuple[str, list[tuple[int, int]]]:
    """A snippet of `text` around the first match and the [start, end) spans of matched words in it."""
    # Map each folded character back to the original one (folding may change lengths: "ß" -> "ss").
    folded_chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for f in fold(ch):
            folded_chars.append(f)
            origin.append(i)
    folded = "".join(folded_chars)
    spans: list[tuple[int, int]] = []
    for word in sorted(query.words, key=len, reverse=True):
        if not word:
            continue
        latin = not _CJK_RUN.search(word)
        for m in re.finditer(re.escape(word), folded):
            if latin and m.start() > 0 and folded[m.start() - 1].isalnum():
                continue  # a Latin word matches at a word start only
            start, end = origin[m.start()], origin[m.end() - 1] + 1
            if not any(s < end and start < e for s, e in spans):
                spans.append((start, end))
    spans.sort()
    first = spans[0][0] if spans else 0
    begin = max(0, min(first - width // 3, len(text) - width))
    end = min(len(text), begin + width)
    snippet = ("…" if begin else "") + text[begin:end] + ("…" if end < len(text) else "")
    shift = 1 if begin else 0
    inside = [(s - begin + shift, e - begin + shift) for s, e in spans if s >= begin and e <= end]
    return snippet, inside
