"""Exact and near-duplicate detection on texts whose overlap we know."""

from __future__ import annotations

import numpy as np

from mixtures.dedup import (
    MinHasher,
    components,
    exact_representatives,
    near_representatives,
    normalise,
    optimal_bands,
)

BASE = (
    "Janet has forty seven apples in a basket on the kitchen table and gives a third of them "
    "to her neighbour who bakes pies for the school fair every autumn weekend"
)


def test_normalise_lowercases_collapses_space_and_strips_edge_punctuation():
    assert normalise("  What is 2+2?\n\n ") == normalise("what   is 2+2") == "what is 2+2"
    assert normalise("x - 9") != normalise("x + 9")


def test_exact_representative_is_the_first_in_order_and_respects_groups():
    texts = ["B a.", "a b", "b a", "B A!"]
    assert exact_representatives(texts).tolist() == [0, 1, 0, 0]
    assert exact_representatives(texts, groups=[1, 1, 2, 2]).tolist() == [0, 1, 2, 2]


def test_near_duplicates_cluster_and_distinct_texts_do_not():
    words = BASE.split()
    one_word = " ".join(words[:10] + ["seventy"] + words[11:])
    other = "A train leaves the station at noon travelling west at sixty miles per hour towards the coast"
    texts = [other, BASE, one_word, other.upper(), "short one"]
    reps = near_representatives(texts, threshold=0.7, shingle=3)
    assert reps[2] == 1  # one word changed: Jaccard ~0.8
    assert reps[3] == 0  # case only
    assert reps[1] == 1 and reps[4] == 4


def test_groups_keep_near_duplicates_apart():
    reps = near_representatives([BASE, BASE + " indeed"], threshold=0.7, shingle=3, groups=np.array([0, 1]))
    assert reps.tolist() == [0, 1]


def test_signatures_estimate_jaccard():
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(5000)]
    a = [vocab[i] for i in rng.integers(0, 5000, 200)]
    b = a[:150] + [vocab[i] for i in rng.integers(0, 5000, 50)]
    sa, sb = ({tuple(d[i : i + 2]) for i in range(len(d) - 1)} for d in (a, b))
    true = len(sa & sb) / len(sa | sb)
    sig = MinHasher(num_perm=256, shingle=2).signatures([a, b])
    assert abs((sig[0] == sig[1]).mean() - true) < 0.1


def test_short_and_empty_documents_hash_to_one_shingle():
    sig = MinHasher(shingle=5).signatures([["a", "b"], ["a", "b"], [], []])
    assert (sig[0] == sig[1]).all() and (sig[2] == sig[3]).all() and not (sig[0] == sig[2]).all()


def test_bands_favour_recall_and_fit_the_permutations():
    def at(threshold, bands_rows):
        bands, rows = bands_rows
        return 1 - (1 - threshold**rows) ** bands  # chance a pair at the threshold is a candidate

    for threshold in (0.7, 0.8, 0.9):
        ours, even = optimal_bands(threshold, 128), optimal_bands(threshold, 128, fn_weight=0.5)
        assert ours[0] * ours[1] <= 128
        assert at(threshold, ours) > at(threshold, even) and at(threshold + 0.05, ours) > 0.95


def test_components_label_by_smallest_member():
    pairs = np.array([[3, 4], [1, 4], [5, 6]])
    assert components(7, pairs).tolist() == [0, 1, 2, 1, 1, 5, 5]
