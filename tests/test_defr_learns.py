"""DEFR's claim on the semantic synthetic benchmark (issue #15): language initialisation (real
all-MiniLM-L6-v2 embeddings) + LSE-Sign beats random initialisation + BCE on Full and Few@1
mAP. Both arms train from scratch with the shipped ``synthetic_defr_semantic_*`` recipes
through ``openhoi train`` (128 px, fixed logit scale 10, 7 epochs) on
``make-synthetic --semantic --images 4000 --seed 0``, and the project's recognition evaluator
scores them on its 1,000 test images; Few@1 = the five unseen verb-object combinations of the
``uc`` split, capped at one training image. Seeded: data seed 0, ``train.seed`` 0.

Margins, from the README's measurement (``train.seed`` 0-4, ``python
benchmarks/bench_defr_synthetic.py --seeds 0 1 2 3 4 --arms lang_lse rand_bce``, per-seed
values in FULL_SEEDS / FEW1_SEEDS). Few@1 is robust: language + LSE-Sign wins in every seed, by
4.0, 8.7, 6.1, 3.7 and 6.0 points; the margin is the smallest of them less a point, 2.7. Full
is not: the wins are 0.7, 6.7, -2.0, 1.5 and 4.1 points (seed 2 loses), so only a strict win at
seed 0 is asked, where the measured win is 0.7 points; a change of recipe, seed or library
version can flip it. Both arms must also learn: Full above RANDOM_FULL + LEARNED (a random
ranking scores 7.1 ± 0.4 Full on this test split, 200 draws). The test fails if either arm
drops to chance, if the language prior stops lifting the unseen combinations, or if language +
LSE-Sign falls behind on Full at seed 0.

Marked slow: two trainings of about 3 minutes each, one thread, on an AMD EPYC
(avx512_bf16) at load 3 (other sessions); generating the 4,000 images takes seconds.
"""

import json

import pytest

from openhoi.cli import main
from openhoi.data.synthetic import generate_synthetic

FULL_SEEDS = {0: (13.4, 12.7), 1: (17.7, 11.0), 2: (16.5, 18.5), 3: (16.0, 14.5),
              4: (15.3, 11.2)}
"""Measured (language + LSE-Sign, random + BCE) Full mAP in % per train.seed (README)."""
FEW1_SEEDS = {0: (9.7, 5.7), 1: (14.2, 5.5), 2: (11.2, 5.1), 3: (9.4, 5.7),
              4: (12.0, 6.0)}
"""Measured (language + LSE-Sign, random + BCE) Few@1 mAP in % per train.seed (README)."""
FULL_MARGIN = 0.0
"""Full mAP (fraction): language + LSE-Sign must be strictly better at seed 0 (the smallest
per-seed win is negative, FULL_SEEDS[2])."""
FEW1_MARGIN = min(a - b for a, b in FEW1_SEEDS.values()) / 100 - 0.01
"""Few@1 mAP (fraction) by which language + LSE-Sign must beat random + BCE."""
RANDOM_FULL = 0.071
"""Full mAP of a random ranking on this test split (mean of 200 draws)."""
LEARNED = 0.03
"""Both arms must beat RANDOM_FULL by this much (about 7 standard deviations of chance)."""


def _train(recipe, data, out):
    run = out / recipe
    assert main(["train", "--config", recipe, "--set", f"data.root={data}", "--set",
                 "train.seed=0", "--output", str(run), "--device", "cpu",
                 "--no-progress"]) == 0
    return json.loads((run / "test_metrics.json").read_text())


@pytest.mark.slow
def test_language_init_and_lse_sign_beat_random_init_and_bce(tmp_path):
    data = tmp_path / "data"
    # `openhoi make-synthetic --semantic --images 4000 --seed 0`
    generate_synthetic(data, 4000, seed=0, semantic=True)
    lang = _train("synthetic_defr_semantic_lang_lse", data, tmp_path)
    rand = _train("synthetic_defr_semantic_rand_bce", data, tmp_path)
    print(f"Full {lang['mAP']:.4f} vs {rand['mAP']:.4f}, "
          f"Few@1 {lang['mAP_few@1']:.4f} vs {rand['mAP_few@1']:.4f}")
    counts = lang["per_class"]["train_count"]
    assert sum(c == 1 for c in counts) == 5  # the five capped uc combinations are Few@1
    assert min(lang["mAP"], rand["mAP"]) > RANDOM_FULL + LEARNED
    assert lang["mAP"] > rand["mAP"] + FULL_MARGIN
    assert lang["mAP_few@1"] > rand["mAP_few@1"] + FEW1_MARGIN
