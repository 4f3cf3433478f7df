import hashlib
import random

import pytest

from openhoi.data.splits import low_data_subset
from openhoi.errors import ConfigError, DataError
from openhoi.label_space import load_label_space

# PPDM's trainval_hico.json, which GEN-VLKT and HOICLIP train on, lists 37,633 images
IDS = [f"HICO_train2015_{i:08d}.jpg" for i in range(1, 37634)]


@pytest.mark.parametrize("fraction, size", [
    (0.01, 376), (0.05, 1881), (0.15, 5644), (0.25, 9408), (0.5, 18816), (1.0, 37633),
])
def test_sizes_are_floor_of_fraction_times_images(fraction, size):
    assert len(low_data_subset(IDS, fraction)) == size


def test_exact_decimal_fraction_and_at_least_one_image():
    hundred = [str(i) for i in range(100)]
    assert len(low_data_subset(hundred, 0.29)) == 29  # 0.29 * 100 is 28.999... in floats
    assert len(low_data_subset(hundred[:10], 0.01)) == 1
    assert low_data_subset([], 0.5) == []


def test_independent_of_input_order_and_sorted():
    shuffled = IDS[:2000]
    random.Random(1).shuffle(shuffled)
    a = low_data_subset(IDS[:2000], 0.05, seed=3)
    assert low_data_subset(shuffled, 0.05, seed=3) == a == sorted(a)


def test_keeps_the_lowest_hash_ranks():
    ids = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    rank = sorted(ids, key=lambda i: hashlib.sha256(f"7\x00{i}".encode()).digest())
    assert low_data_subset(ids, 0.5, seed=7) == sorted(rank[:2])


def test_nested_across_fractions_and_seed_changes_draw():
    fractions = load_label_space("hicodet").extra["low_data"]["fractions"]
    ids = IDS[:5000]
    subsets = [set(low_data_subset(ids, f, seed=0)) for f in sorted(fractions)]
    for small, large in zip(subsets, subsets[1:]):
        assert small < large
    other = set(low_data_subset(ids, 0.05, seed=1))
    assert other != subsets[1] and len(other) == len(subsets[1])


def test_stable_when_other_images_are_removed():
    ids = IDS[:5000]
    kept = set(low_data_subset(ids, 0.05))
    dropped = set(ids[::10])  # e.g. images without valid pairs filtered out
    smaller = set(low_data_subset([i for i in ids if i not in dropped], 0.05))
    # the ranking is per image, so both subsets are prefixes of one ranking of the remaining
    # images: one contains the other, never a fresh draw
    survivors = kept - dropped
    assert survivors <= smaller or smaller <= survivors
    assert len(survivors & smaller) >= 0.8 * len(smaller)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_bad_fraction(fraction):
    with pytest.raises(ConfigError, match="fraction"):
        low_data_subset(IDS[:10], fraction)


def test_duplicate_ids_are_rejected():
    with pytest.raises(DataError, match="b.jpg"):
        low_data_subset(["a.jpg", "b.jpg", "b.jpg"], 0.5)
