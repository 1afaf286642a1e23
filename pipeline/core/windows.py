"""Event-time buckets: per-mention folding into an open bucket, compaction on close, window sums.

Every aggregate is an integer (probabilities and weights in thousandths) or a top-k under a total
order, so the result of folding a multiset of mentions does not depend on their arrival order.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.types import ScoredMention

_TERM_RE = re.compile(r"#?[a-z][a-z0-9_'-]{2,}")
_URL_RE = re.compile(r"https?://\S+|www\.\S+|@\w+")
SPAM_MIN = 3  # an author with this many mentions in a window counts once there
AUTHOR_BITS = 512  # bits of a bucket's author bitmap (distinct authors of a window, estimated)

_STOP = frozenset(
    """the and for you your with this that have has had was were are not but all can will just
    from they them their what when where who why how out get got its it's i'm im don't dont
    about been into than then there here our ours she her his him would could should
    one two more most very too also any some only over after before again now new via amp rt
    today day time really still even back going make made like know need want good great""".split()
)


def stable_hash(text: str) -> int:
    """A 63-bit hash that is the same in every process (unlike ``hash``)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def reach_of(m: ScoredMention) -> int:
    """People a mention may have reached: followers plus engagement."""
    return max(0, m.followers) + max(0, m.likes) + max(0, m.shares) + max(0, m.replies)


def weight_milli(reach: int) -> int:
    """Reach weight 1 + log10(1 + reach), in thousandths."""
    return round(1000.0 * (1.0 + math.log10(1.0 + reach)))


def terms_of(text: str) -> set[str]:
    """Lower-cased words and hashtags worth reporting (each counted once per mention)."""
    cleaned = _URL_RE.sub(" ", text.lower())
    return {t.strip("'-") for t in _TERM_RE.findall(cleaned) if t.strip("'-") not in _STOP}


def _rank(top: Sequence[Any]) -> tuple[int, int, str]:
    # negatives first, then by reach, then by dedup key: a total order
    return (-int(top[0]), -int(top[1]), str(top[2]))


@dataclass
class Bucket:
    """Aggregates of one bucket. Open buckets keep dedup keys, authors and term counters; closing
    compacts them to counts and top-k lists."""

    start: int
    n: int = 0
    neg: int = 0
    pos: int = 0
    pneg: int = 0  # sum of p_negative, thousandths
    w: int = 0  # sum of reach weights, thousandths
    negw: int = 0  # sum of reach weights of negative mentions, thousandths
    max_neg_reach: int = 0
    with_author: int = 0
    distinct_authors: int = 0
    max_per_author: int = 0
    top_author: list[Any] = field(default_factory=list)  # [hash, n, neg, {cat: k}] most active
    cats: dict[str, int] = field(default_factory=dict)
    src: dict[str, list[int]] = field(default_factory=dict)  # source -> [n, neg]
    terms: dict[str, int] = field(default_factory=dict)
    top: list[list[Any]] = field(default_factory=list)  # [neg, reach, key, summary]
    keys: set[int] = field(default_factory=set)
    authors: dict[int, list[Any]] = field(default_factory=dict)  # hash -> [n, neg, {cat: k}]
    closed: bool = False
    new_authors: int = 0  # distinct authors not seen in the brand's recent days (set on close)
    # one bit per hashed author, kept after close: the union over a window's buckets estimates
    # its distinct authors (one author in every bucket is one author, not one per bucket);
    # None for buckets saved before the bitmap existed
    author_bits: int | None = 0

    def add(
        self, m: ScoredMention, key_hash: int, cfg_top: int, cfg_chars: int, cat_thr: float
    ) -> None:
        self.keys.add(key_hash)
        neg = 1 if m.is_negative else 0
        reach = reach_of(m)
        wm = weight_milli(reach)
        self.n += 1
        self.neg += neg
        self.pos += 1 if m.label == "positive" else 0
        self.pneg += round(1000.0 * min(1.0, max(0.0, m.p_negative)))
        self.w += wm
        self.negw += wm * neg
        if neg:
            self.max_neg_reach = max(self.max_neg_reach, reach)
        cats = [cat for cat, score in m.categories.items() if score >= cat_thr]
        for cat in cats:
            self.cats[cat] = self.cats.get(cat, 0) + 1
        if m.author_id:
            self.with_author += 1
            ah = stable_hash(m.author_id)
            if self.author_bits is not None:
                self.author_bits |= 1 << (ah % AUTHOR_BITS)
            counts_a = self.authors.setdefault(ah, [0, 0, {}])
            counts_a[0] += 1
            counts_a[1] += neg
            for cat in cats:
                counts_a[2][cat] = counts_a[2].get(cat, 0) + 1
        counts = self.src.setdefault(m.source, [0, 0])
        counts[0] += 1
        counts[1] += neg
        for term in terms_of(m.text):
            self.terms[term] = self.terms.get(term, 0) + 1
        summary = {
            "id": m.mention_id,
            "source": m.source,
            "text": m.text[:cfg_chars],
            "url": m.url,
            "reach": reach,
            "label": m.label,
        }
        self.top.append([neg, reach, m.dedup_key, summary])
        self.top.sort(key=_rank)
        del self.top[cfg_top:]

    def add_volume(self, count: int, negative: int) -> None:
        """A pre-aggregated count (volume-only series)."""
        self.n += count
        self.neg += negative
        self.pneg += 1000 * negative
        self.w += 1000 * count
        self.negw += 1000 * negative
        counts = self.src.setdefault("series", [0, 0])
        counts[0] += count
        counts[1] += negative

    def close(self, top_terms: int) -> None:
        """Compact: drop dedup keys and author ids, keep counts and top-k."""
        self.distinct_authors = len(self.authors)
        if self.authors:
            # the most active author, ties by hash: a total order
            top, counts = min(self.authors.items(), key=lambda kv: (-kv[1][0], kv[0]))
            self.max_per_author = counts[0]
            # its categories too: a burst of one author is one mention for them as well
            self.top_author = [top, counts[0], counts[1], dict(sorted(counts[2].items()))]
        self.authors = {}
        self.keys = set()
        self.terms = dict(top_items(self.terms.items(), top_terms))
        self.closed = True

    def strip_details(self) -> None:
        """Older closed buckets keep only numbers (bounded state)."""
        self.terms = {}
        self.top = []

    def to_obj(self) -> list[Any]:
        return [
            self.start, self.n, self.neg, self.pos, self.pneg, self.w, self.negw,
            self.max_neg_reach, self.with_author, self.distinct_authors, self.max_per_author,
            self.top_author, self.cats, self.src, self.terms, self.top, sorted(self.keys),
            [[k, v] for k, v in sorted(self.authors.items())], self.closed, self.new_authors,
            None if self.author_bits is None else format(self.author_bits, "x"),
        ]  # fmt: skip

    @classmethod
    def from_obj(cls, obj: Sequence[Any]) -> Bucket:
        return cls(
            start=obj[0], n=obj[1], neg=obj[2], pos=obj[3], pneg=obj[4], w=obj[5], negw=obj[6],
            max_neg_reach=obj[7], with_author=obj[8], distinct_authors=obj[9],
            max_per_author=obj[10], top_author=list(obj[11]), cats=dict(obj[12]),
            src={k: list(v) for k, v in obj[13].items()}, terms=dict(obj[14]),
            top=[list(t) for t in obj[15]], keys=set(obj[16]),
            authors={k: [v[0], v[1], dict(v[2]) if len(v) > 2 else {}] for k, v in obj[17]},
            closed=obj[18],
            new_authors=obj[19] if len(obj) > 19 else 0,
            author_bits=_bits_of(obj),
        )  # fmt: skip


def _bits_of(obj: Sequence[Any]) -> int | None:
    if len(obj) > 20:
        return None if obj[20] is None else int(obj[20], 16)
    if obj[18]:  # closed by a version without the bitmap: its authors are gone
        return None
    bits = 0
    for ah, _ in obj[17]:
        bits |= 1 << (int(ah) % AUTHOR_BITS)
    return bits


def distinct_authors(union: int | None, total: int, busiest: int) -> int:
    """Distinct authors of a window: linear counting on the union of its buckets' bitmaps, kept
    between the busiest bucket's count and the per-bucket sum ``total``; the sum when a bitmap
    is missing (``union`` None) or the union is full (thousands of authors: then repeats weigh
    little anyway)."""
    zeros = AUTHOR_BITS - union.bit_count() if union is not None else 0
    if zeros == 0:
        return total
    estimate = round(AUTHOR_BITS * math.log(AUTHOR_BITS / zeros))
    return min(total, max(busiest, estimate))


def top_items(items: Iterable[tuple[str, int]], k: int) -> list[tuple[str, int]]:
    """Top k by count, ties by name: a total order."""
    return sorted(items, key=lambda kv: (-kv[1], kv[0]))[:k]


@dataclass(frozen=True)
class WindowSums:
    """Sums over a run of closed buckets."""

    n: int = 0
    neg: int = 0
    pos: int = 0
    pneg: int = 0
    w: int = 0
    negw: int = 0
    max_neg_reach: int = 0
    with_author: int = 0
    distinct_authors: int = 0
    max_per_author: int = 0
    cats: Mapping[str, int] = field(default_factory=dict)
    young_n: int = 0
    young_neg: int = 0
    spam_n: int = 0
    spam_neg: int = 0
    new_authors: int = 0

    @property
    def scored_n(self) -> int:
        """Mentions that count for the score: sources past their warm-up, and an author's
        burst within one bucket counted once."""
        return max(0, self.n - self.young_n - self.spam_n)

    @property
    def scored_neg(self) -> int:
        return max(0, self.neg - self.young_neg - self.spam_neg)


def window_sums(buckets: Sequence[Bucket], young_sources: frozenset[str]) -> WindowSums:
    n = neg = pos = pneg = w = negw = mnr = wa = da = mpa = yn = yneg = sn = sneg = na = 0
    busiest = 0
    union: int | None = 0  # of the author bitmaps; None once a bucket has none
    cats: dict[str, int] = {}
    # most active author of a bucket -> [n, neg, {cat: k}] in the window
    tops: dict[int, list[Any]] = {}
    for b in buckets:
        n += b.n
        neg += b.neg
        pos += b.pos
        pneg += b.pneg
        w += b.w
        negw += b.negw
        mnr = max(mnr, b.max_neg_reach)
        wa += b.with_author
        da += b.distinct_authors
        busiest = max(busiest, b.distinct_authors)
        union = None if union is None or b.author_bits is None else union | b.author_bits
        mpa = max(mpa, b.max_per_author)
        na += b.new_authors
        if b.top_author:
            a_hash, a_n, a_neg = b.top_author[:3]
            acc = tops.setdefault(a_hash, [0, 0, {}])
            acc[0] += a_n
            acc[1] += a_neg
            if len(b.top_author) > 3:  # (state from older versions has no categories here)
                for c, k in b.top_author[3].items():
                    acc[2][c] = acc[2].get(c, 0) + k
        for c, k in b.cats.items():
            cats[c] = cats.get(c, 0) + k
        if young_sources:
            for src, (src_n, src_neg) in b.src.items():
                if src in young_sources:
                    yn += src_n
                    yneg += src_neg
    for a_n, a_neg, a_cats in tops.values():
        if a_n >= SPAM_MIN:  # a burst of one author counts as one mention
            sn += a_n - 1
            sneg += a_neg - (1 if 2 * a_neg >= a_n else 0)  # the one kept: negative if mostly
            for c, k in a_cats.items():  # ... in each of its categories at most once
                cats[c] = max(0, cats.get(c, 0) - (k - 1))
    da = distinct_authors(union, da, busiest)
    return WindowSums(n, neg, pos, pneg, w, negw, mnr, wa, da, mpa, cats, yn, yneg, sn, sneg, na)


def merged_terms(buckets: Sequence[Bucket], k: int) -> list[tuple[str, int]]:
    acc: dict[str, int] = {}
    for b in buckets:
        for t, c in b.terms.items():
            acc[t] = acc.get(t, 0) + c
    return top_items(acc.items(), k)


def merged_top(buckets: Sequence[Bucket], k: int) -> list[dict[str, Any]]:
    rows = sorted((t for b in buckets for t in b.top), key=_rank)[:k]
    return [dict(r[3]) for r in rows]
