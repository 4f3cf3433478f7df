"""Ground truth counted per annotation entry, as the references count it (hand-computed).

GEN-VLKT's test set keeps one (subject, object, verb) per ``hoi_annotation`` entry, repeats
included; ``sum_gts`` counts each, and ``vis_tag[gt_hois.index(...)]`` can only ever mark the
first of two equal entries. The MATLAB code counts every ``connection`` row. So an entry listed
twice is two positives of which one can be found; and ties between ground-truth pairs go to the
entry that comes first in the file, not to the pair that appears first.

Synthetic label space: interaction 0 = hold sports ball, 1 = kick sports ball; objects 0 person,
1 sports ball.
"""

import dataclasses

import pytest
import torch
from cases import predictions, targets

from openhoi.errors import OpenHOIError
from openhoi.evaluation import HICODetEvaluator
from openhoi.label_space import load_label_space

S = load_label_space("synthetic")
H = [0, 0, 99, 99]
B = [200, 200, 299, 299]


def run(gts, preds, protocol="python", entries=True):
    ev = HICODetEvaluator([targets(*g, S, entries=entries) for g in gts], S, protocol=protocol)
    # the official protocol adds 1 to every detection coordinate (O1): shift them back
    d = 0 if protocol == "python" else -1
    ev.process([predictions(n, [[v + d for v in b] for b in boxes], t) for n, boxes, t in preds])
    return ev.evaluate()


@pytest.mark.parametrize("protocol", ["python", "official"])
def test_an_entry_listed_twice_counts_twice_and_is_found_once(protocol):
    # two perfect detections: the second's best entry is the first copy again (taken) -> FP.
    # rec .5 .5, prec 1 .5 -> AP = 6 thresholds (0 .. .5) x 1 / 11.
    gts = [("a", [H, B], [0, 1], [(0, 1, 0), (0, 1, 0)])]
    preds = [("a", [H, B], [(0, 1, 0, 0.9), (0, 1, 0, 0.8)])]
    res = run(gts, preds, protocol)
    assert res["per_class"]["num_gt"][0] == 2 and res["num_gt"] == 2
    assert res["per_class"]["ap"][0] == pytest.approx(6 / 11, abs=1e-15)
    assert res["per_class"]["max_recall"][0] == 0.5
    # merged into one pair (no hoi_entries) the same file would count once: AP 1
    merged = run(gts, preds, protocol, entries=False)
    assert merged["per_class"]["num_gt"][0] == 1
    assert merged["per_class"]["ap"][0] == pytest.approx(1.0)


@pytest.mark.parametrize("protocol", ["python", "official"])
def test_a_box_listed_twice_under_two_ids_is_also_found_once(protocol):
    # boxes 0 and 2 are the same person: two different entries, but every detection overlaps
    # both equally, so the first (in file order) always wins the tie: the copy is never found.
    gts = [("a", [H, B, H], [0, 1, 0], [(0, 1, 0), (2, 1, 0)])]
    preds = [("a", [H, B], [(0, 1, 0, 0.9), (0, 1, 0, 0.8)])]
    res = run(gts, preds, protocol)
    assert res["per_class"]["num_gt"][0] == 2
    assert res["per_class"]["ap"][0] == pytest.approx(6 / 11, abs=1e-15)  # TP, FP
    # the same with merged pairs: (0, 1) and (2, 1) are distinct pairs, so nothing changes
    assert run(gts, preds, protocol, entries=False)["per_class"]["ap"][0] == pytest.approx(
        6 / 11, abs=1e-15)


# Ties between entries: one human H, two balls B1, B2. det1's human box [0, 0, 99, 59] has IoU
# 6000/10000 = .6 with H; its ball box overlaps B1 and B2 equally (IoU 8500/11500 = .739), so
# min(IoU_h, IoU_o) = .6 for both entries: it takes whichever is compared first. det2 = (H, B2)
# exactly (best: the B2 entry, 1 vs min(1, 7000/13000)); det3 = (H, B1) exactly.
B1, B2 = [200, 200, 299, 299], [230, 200, 329, 299]
TIE_PREDS = [("a", [[0, 0, 99, 59], [215, 200, 314, 299], H, B2, B1],
              [(0, 1, 0, 0.9), (2, 3, 0, 0.8), (2, 4, 0, 0.7)])]


@pytest.mark.parametrize("protocol", ["python", "official"])
def test_ties_between_entries_follow_file_order_not_pair_order(protocol):
    # File: kick (H, B1), hold (H, B2), hold (H, B1). Pairs by first appearance: (H, B1), then
    # (H, B2); but the first "hold" entry in the file is (H, B2). det1 takes it, det2 (its best
    # is B2's entry) is an FP, det3 takes (H, B1): TP FP TP, rec .5 .5 1, prec 1 .5 2/3.
    gts = [("a", [H, B1, B2], [0, 1, 1], [(0, 1, 1), (0, 2, 0), (0, 1, 0)])]
    res = run(gts, TIE_PREDS, protocol)
    assert res["per_class"]["ap"][0] == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-15)
    # With the (H, B1) "hold" entry first in the file: det1 takes it, det2 takes B2's, det3's
    # best is taken: TP TP FP -> AP 1.
    swapped = [("a", [H, B1, B2], [0, 1, 1], [(0, 1, 1), (0, 1, 0), (0, 2, 0)])]
    assert run(swapped, TIE_PREDS, protocol)["per_class"]["ap"][0] == pytest.approx(1.0)


@pytest.mark.parametrize("protocol", ["python", "official"])
def test_repeats_interleaved_with_other_pairs(protocol):
    # hold (H, B1), hold (H, B2), hold (H, B1) again: 3 positives, 2 findable.
    gts = [("a", [H, B1, B2], [0, 1, 1], [(0, 1, 0), (0, 2, 0), (0, 1, 0)])]
    preds = [("a", [H, B1, B2], [(0, 1, 0, 0.9), (0, 2, 0, 0.8), (0, 1, 0, 0.7)])]
    res = run(gts, preds, protocol)
    assert res["per_class"]["num_gt"][0] == 3
    assert res["per_class"]["max_recall"][0] == pytest.approx(2 / 3)
    # TP TP FP: rec 1/3 2/3 2/3, prec 1 1 2/3 -> thresholds 0 .. .6 reached (7 of 11) at prec 1
    assert res["per_class"]["ap"][0] == pytest.approx(7 / 11, abs=1e-15)


def test_hoi_entries_must_agree_with_verbs():
    good = targets("a", [H, B], [0, 1], [(0, 1, 0), (0, 1, 0)], S)
    hold, kick = S.interactions[0][0], S.interactions[1][0]
    cases = [
        (torch.tensor([[0, kick]]), rf"'a': \(pair 0, verb {hold}\) has no hoi_entries row"),
        (torch.tensor([[0, hold], [0, kick]]),
         rf"'a': \(pair 0, verb {kick}\) is not a positive of verbs"),
        (torch.tensor([[1, hold]]), "'a': hoi_entries pair rows must index its 1 pairs"),
        (torch.tensor([[0, 99]]), "'a': hoi_entries verb 99 is outside"),
        (torch.tensor([0, hold]), r"'a': hoi_entries must have shape \[n, 2\]"),
    ]
    for entries, match in cases:
        with pytest.raises(OpenHOIError, match=match):
            HICODetEvaluator([dataclasses.replace(good, hoi_entries=entries)], S)


def test_targets_with_and_without_entries_mix():
    twice = [(0, 1, 0), (0, 1, 0)]
    tg = [targets("a", [H, B], [0, 1], twice, S), targets("b", [H, B], [0, 1], twice, S,
                                                          entries=False)]
    res = HICODetEvaluator(tg, S).evaluate()
    assert res["per_class"]["num_gt"][0] == 3  # "a" counts both entries, "b" its merged pair
