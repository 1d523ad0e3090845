"""Exact and near-duplicate detection: normalised text, then MinHash LSH in numpy.

Simplified on purpose: one MinHash family (a 64-bit word hash, combined into word
shingles, permuted by `a*h + b mod 2**64` with odd `a`), bands x rows chosen from the
threshold as datasketch does (least weighted false positive + false negative area
under the S-curve, but with misses weighted 0.9 since candidates are verified), candidate pairs verified by the signatures' Jaccard estimate, and
clusters as connected components of the verified pairs. Everything after
tokenising runs as whole-array numpy operations, which is where the speed over a
per-document MinHash object comes from.

The representative of a cluster is its member that comes first in the order the
caller gives (callers sort by created_at, then id), so results are deterministic.
A `group` per document restricts duplicates to documents of the same group (the
completions of one problem).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xxhash

_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd golden-ratio constant: a cheap 64-bit mixer
_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # renamed in numpy 2.0
NUM_PERM = 128  # permutations per signature


def normalise(text: str | None) -> str:
    """Text for exact dedup: NFKC, lowercase, whitespace collapsed, punctuation at the ends stripped."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return _EDGE_PUNCT.sub("", _SPACE.sub(" ", text).strip())


def words(text: str | None) -> list[str]:
    """Lowercase word tokens (punctuation dropped): the unit of shingles and n-grams."""
    return _WORD.findall(unicodedata.normalize("NFKC", text or "").lower())


def tokens(text: str | None) -> list[str]:
    """Words and punctuation marks, lowercase: the unit of near-dup shingles. Symbols stay,
    because in math and code they carry the meaning ("x + 9" is not "x - 9")."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text or "").lower())


@functools.lru_cache(maxsize=32)
def optimal_bands(threshold: float, num_perm: int, fn_weight: float = 0.9) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising the weighted false-positive area
    below the threshold plus the false-negative area above it. datasketch weighs both 0.5;
    we weigh misses more, because every candidate pair is verified by its Jaccard estimate
    afterwards, so a false positive costs a comparison and a miss costs a duplicate."""
    xs_lo = np.linspace(0.0, threshold, 200)
    xs_hi = np.linspace(threshold, 1.0, 200)
    best, best_err = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = _trapezoid(1 - (1 - xs_lo**rows) ** bands, xs_lo)
            fn = _trapezoid((1 - xs_hi**rows) ** bands, xs_hi)
            err = (1 - fn_weight) * fp + fn_weight * fn
            if err < best_err:
                best, best_err = (bands, rows), err
    return best


@dataclass(frozen=True)
class MinHasher:
    num_perm: int = 128
    shingle: int = 5
    seed: int = 1

    def _perms(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        a = rng.integers(1, 2**63, self.num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        b = rng.integers(0, 2**63, self.num_perm, dtype=np.uint64)
        return a, b

    def shingle_hashes(self, docs: Sequence[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """All shingle hashes, concatenated, and each document's start offset into them.
        A document shorter than `shingle` words is one shingle of all its words; an
        empty one gets one shingle of nothing (so empty documents are each other's dups)."""
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(w, len(vocab)) for w in doc] or [-1] for doc in docs]
        # a word's hash depends on the word only, so signatures do not depend on the corpus
        table = np.fromiter((xxhash.xxh3_64_intdigest(w.encode()) for w in vocab), np.uint64, len(vocab))
        table = np.append(table, np.uint64(0x5BD1E995))  # id -1: the empty document
        lengths = np.fromiter((len(d) for d in ids), np.int64, len(ids))
        token_hashes = table[np.fromiter((i for d in ids for i in d), np.int64, int(lengths.sum()))]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        k = self.shingle
        combined = [_mix(token_hashes)]  # combined[j][i]: hash of words i..i+j, order-sensitive
        for j in range(1, k):
            nxt = (combined[-1][:-1] ^ token_hashes[j:]) * _MIX
            nxt ^= nxt >> np.uint64(29)
            combined.append(nxt)
        n_shingles = np.maximum(lengths - k + 1, 1)
        full = np.repeat(starts, n_shingles) + _ranks(n_shingles)
        width = np.minimum(lengths, k)  # words per shingle: k, or the whole short document
        out = np.empty(len(full), np.uint64)
        per_shingle_width = np.repeat(width, n_shingles)
        for j in range(1, k + 1):
            sel = per_shingle_width == j
            if sel.any():
                out[sel] = combined[j - 1][full[sel]]
        offsets = np.concatenate([[0], np.cumsum(n_shingles)[:-1]])
        return out, offsets

    def signatures(self, docs: Sequence[list[str]], chunk: int = 1 << 14) -> np.ndarray:
        """(documents, num_perm) uint64 minimum permuted shingle hashes."""
        hashes, offsets = self.shingle_hashes(docs)
        a, b = self._perms()
        sig = np.empty((len(docs), self.num_perm), np.uint64)
        ends = np.append(offsets[1:], len(hashes))
        doc = 0
        while doc < len(docs):
            # whole documents per chunk, so reduceat never splits one
            last = max(int(np.searchsorted(offsets, offsets[doc] + chunk, side="right")), doc + 1)
            lo, hi = offsets[doc], ends[last - 1]
            # (num_perm, shingles): reducing along the contiguous axis is ~10x faster than along rows
            permuted = a[:, None] * hashes[None, lo:hi]
            permuted += b[:, None]
            sig[doc:last] = np.minimum.reduceat(permuted, offsets[doc:last] - lo, axis=1).T
            doc = last
        return sig


def _mix(h: np.ndarray) -> np.ndarray:
    h = h * _MIX
    return h ^ (h >> np.uint64(29))


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each count c, concatenated."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


def _band_keys(sig: np.ndarray, bands: int, rows: int, groups: np.ndarray | None) -> np.ndarray:
    """(documents, bands) uint64 bucket keys; the group (when given) is mixed in so
    only documents of the same group can collide."""
    keys = np.zeros((sig.shape[0], bands), np.uint64)
    if groups is not None:
        keys ^= groups.astype(np.uint64)[:, None] * _MIX
    for r in range(rows):
        keys = (keys ^ sig[:, r::rows][:, :bands]) * _MIX
        keys ^= keys >> np.uint64(31)
    return keys


def candidate_pairs(keys: np.ndarray, big_bucket: int = 64) -> np.ndarray:
    """(pairs, 2) int64 document pairs (i < j) sharing a bucket in some band. Buckets
    larger than `big_bucket` contribute a chain and a star instead of all pairs, which
    keeps their members connected without a quadratic blow-up."""
    found = []
    for band in range(keys.shape[1]):
        order = np.argsort(keys[:, band], kind="stable")
        sorted_keys = keys[order, band]
        same = sorted_keys[1:] == sorted_keys[:-1]
        if not same.any():
            continue
        # neighbours in the sorted order: covers buckets of two, and the chain of bigger ones
        found.append(np.stack([order[:-1][same], order[1:][same]], axis=1))
        run_start = np.flatnonzero(np.concatenate([[True], ~same]))
        run_len = np.diff(np.append(run_start, len(order)))
        for start, length in zip(run_start[run_len > 2], run_len[run_len > 2]):
            members = order[start : start + length]
            if length <= big_bucket:
                i, j = np.triu_indices(length, 1)
                found.append(np.stack([members[i], members[j]], axis=1))
            else:
                found.append(np.stack([np.full(length - 1, members[0]), members[1:]], axis=1))
    if not found:
        return np.empty((0, 2), np.int64)
    pairs = np.sort(np.concatenate(found), axis=1)
    return np.unique(pairs, axis=0)


def estimated_jaccard(sig: np.ndarray, pairs: np.ndarray, chunk: int = 1 << 15) -> np.ndarray:
    out = np.empty(len(pairs))
    for lo in range(0, len(pairs), chunk):
        p = pairs[lo : lo + chunk]
        out[lo : lo + chunk] = (sig[p[:, 0]] == sig[p[:, 1]]).mean(axis=1)
    return out


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Each document's component, labelled by its smallest member index (union-find,
    vectorised by repeated min-label propagation over the edges)."""
    label = np.arange(n)
    if len(pairs) == 0:
        return label
    i, j = pairs[:, 0], pairs[:, 1]
    while True:
        low = np.minimum(label[i], label[j])
        before = label.copy()
        np.minimum.at(label, i, low)
        np.minimum.at(label, j, low)
        label = label[label]  # pointer jumping: converges in O(log n) rounds
        if np.array_equal(label, before):
            return label


def exact_representatives(
    texts: Sequence[str | None], groups: Sequence | None = None, keys: Sequence[str] | None = None
) -> np.ndarray:
    """For each document, the index of the first document (in the given order) of the
    same group with the same normalised text. `keys`: the texts' `normalise`d forms, when
    computed elsewhere."""
    first: dict[tuple, int] = {}
    reps = np.empty(len(texts), np.int64)
    for index, key in enumerate(map(normalise, texts) if keys is None else keys):
        reps[index] = first.setdefault((groups[index] if groups is not None else None, key), index)
    return reps


def signatures(texts: Sequence[str | None], shingle: int = 5, num_perm: int = NUM_PERM) -> np.ndarray:
    """(documents, num_perm) MinHash signatures of the texts' tokens. A row depends on its
    text alone, so shards of a corpus may be signed apart (Ray tasks) and stacked."""
    return MinHasher(num_perm=num_perm, shingle=shingle).signatures([tokens(t) for t in texts])


def near_representatives(
    texts: Sequence[str | None],
    threshold: float = 0.8,
    shingle: int = 5,
    num_perm: int = NUM_PERM,
    groups: np.ndarray | None = None,
    sig: np.ndarray | None = None,
) -> np.ndarray:
    """For each document, the first member (in the given order) of its near-duplicate
    cluster: connected components of pairs whose estimated Jaccard >= threshold. `sig`:
    the texts' `signatures`, when computed elsewhere."""
    if len(texts) == 0:
        return np.empty(0, np.int64)
    if sig is None:
        sig = signatures(texts, shingle, num_perm)
    bands, rows = optimal_bands(threshold, num_perm)
    pairs = candidate_pairs(_band_keys(sig, bands, rows, groups))
    if len(pairs):
        pairs = pairs[estimated_jaccard(sig, pairs) >= threshold]
    return components(len(texts), pairs)
