"""DEFR's claim on the synthetic benchmark (issue #15): language initialisation (real
all-MiniLM-L6-v2 embeddings) + LSE-Sign beats random initialisation + BCE on Full and Few@1
mAP, both trained with the shipped recipes through `openhoi train` and scored by the project's
recognition evaluator on the held-out test split. Seeded (data seed 0, train.seed 42).

Marked slow: the two from-scratch trainings of 25 epochs took about 9 minutes side by side on
2 CPU cores of an AMD EPYC at load 17 (not measured on an idle machine). When written, they
gave Full 18.7 vs 17.9 and Few@1 21.6 vs 15.1 (README table). The effect is not robust: with
train.seed 0 language + LSE-Sign still wins on Full (20.4 vs 18.8) but loses on Few@1 (15.1 vs
18.3). The Full margin is under a point and only a strict win is asked there; Few@1 must win by
3 points. The test can fail on a change of recipe, seed or library version. Rerun on main of
2026-12-04: Full 23.0 vs 20.3, Few@1 25.3 vs 18.3, 15.6 minutes at load 7-8 (AMD EPYC).

Both runs sit close to chance (a random ranking scores about 12.5 here), which is why the
effect is fragile. The semantic benchmark (``make-synthetic --semantic``, ``data.rare_cap_split:
uc``), where language could transfer to rare classes, was measured for three seeds and every
arm is at chance there (README, "Semantic synthetic benchmark"): the from-scratch backbone under
DEFR's cosine head at scale 100 does not fit its training images in these few steps, so this
test stays on the original benchmark until a from-scratch setting that learns is found.
"""

import json

import pytest

from openhoi.cli import main
from openhoi.data.synthetic import generate_synthetic

FEW1_MARGIN = 0.03
"""Few@1 mAP (fraction) by which language + LSE-Sign must beat random + BCE."""
FULL_MARGIN = 0.0
"""Full mAP: language + LSE-Sign must be strictly better."""


def _train(recipe, data, out):
    run = out / recipe
    assert main(["train", "--config", recipe, "--set", f"data.root={data}", "--set",
                 "train.seed=42", "--output", str(run), "--device", "cpu",
                 "--no-progress"]) == 0
    return json.loads((run / "test_metrics.json").read_text())


@pytest.mark.slow
def test_language_init_and_lse_sign_beat_random_init_and_bce(tmp_path):
    data = tmp_path / "data"
    generate_synthetic(data, 300, seed=0)  # `openhoi make-synthetic --images 300 --seed 0`
    lang = _train("synthetic_defr_lang_lse", data, tmp_path)
    rand = _train("synthetic_defr_rand_bce", data, tmp_path)
    print(f"Full {lang['mAP']:.4f} vs {rand['mAP']:.4f}, "
          f"Few@1 {lang['mAP_few@1']:.4f} vs {rand['mAP_few@1']:.4f}")
    counts = lang["per_class"]["train_count"]
    assert sum(c <= 1 for c in counts) >= 2  # the Few@1 classes exist (data.rare_cap: 1)
    assert lang["mAP"] > rand["mAP"] + FULL_MARGIN
    assert lang["mAP_few@1"] >= rand["mAP_few@1"] + FEW1_MARGIN
