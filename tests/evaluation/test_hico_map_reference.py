"""The vectorised HICO-DET evaluator agrees with the loop reference on random cases."""

import numpy as np
import pytest
from cases import random_case
from loop_reference import hico_official, hico_python

from openhoi.data.label_space import load_label_space
from openhoi.evaluation import HICODetEvaluator

SPACE = load_label_space("synthetic")


def _run(protocol, seed, **kw):
    tg, pr, rg, rp, extra = random_case(seed, SPACE)
    ev = HICODetEvaluator(tg, SPACE, protocol=protocol, **kw)
    ev.process(pr)
    return ev.evaluate(), rg, rp, extra


@pytest.mark.parametrize("seed", range(8))
def test_python_protocol_equals_loop_reference(seed):
    res, rg, rp, _ = _run("python", seed)
    ref = hico_python(rg, rp, SPACE.num_interactions)
    ap = res["per_class"]["ap"]
    assert {c for c in range(SPACE.num_interactions) if ap[c] is not None} == set(ref)
    for c, v in ref.items():
        assert ap[c] == v, c  # bit-exact
    assert res["mAP"] == pytest.approx(np.mean([ref[c] for c in sorted(ref)]), abs=1e-15)


@pytest.mark.parametrize("seed", range(8))
def test_official_protocol_equals_loop_reference(seed):
    res, rg, rp, extra = _run("official", seed)
    ref = hico_official(rg, rp, SPACE.num_interactions, extra_images=extra)
    assert res["per_class"]["ap"] == [ref[c] for c in range(SPACE.num_interactions)]
    obj_of = [o for _, o in SPACE.interactions]
    known = {name: {boxes_labels for boxes_labels in _gt_objects(rg, name)} for name, _, _ in rg}
    ref_ko = hico_official(rg, rp, SPACE.num_interactions, known=known, obj_of=obj_of,
                           extra_images=extra)
    assert res["per_class"]["ap_ko"] == [ref_ko[c] for c in range(SPACE.num_interactions)]


def _gt_objects(rg, name):
    for n, _, hois in rg:
        if n == name:
            return {[o for _, o in SPACE.interactions][c] for _, _, c in hois}
    return set()


@pytest.mark.parametrize("seed", range(3))
def test_official_cap_per_class_equals_loop_reference(seed):
    res, rg, rp, extra = _run("official", seed)
    tg, pr, *_ = random_case(seed, SPACE)
    import openhoi.evaluation.hico_map as hm
    old = hm.OFFICIAL_MAX_DETS_PER_CLASS
    hm.OFFICIAL_MAX_DETS_PER_CLASS = 7
    try:
        ev = HICODetEvaluator(tg, SPACE, protocol="official")
        ev.process(pr)
        capped = ev.evaluate()
    finally:
        hm.OFFICIAL_MAX_DETS_PER_CLASS = old
    ref = hico_official(rg, rp, SPACE.num_interactions, extra_images=extra, cap=7)
    assert capped["per_class"]["ap"] == [ref[c] for c in range(SPACE.num_interactions)]
    assert capped["per_class"]["ap"] != res["per_class"]["ap"]
