"""``openhoi train`` end to end on a tiny synthetic dataset with the shipped tiny recipe (at
64 px): files of the run folder, resume equivalence, CLI errors."""

import json

import pytest
import torch

from openhoi.checkpoint import load_checkpoint, load_safetensors
from openhoi.cli import main
from openhoi.config import load_config
from openhoi.data.dataset import resolve_label_space
from openhoi.data.synthetic import generate_synthetic
from openhoi.engine.metrics import read_metrics
from openhoi.engine.run import build_run_data
from openhoi.structures import HOIRawOutput


@pytest.fixture(scope="module")
def syn_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate_synthetic(root, num_images=20, seed=3, test_fraction=0.25)  # 15 train, 5 test
    return root


def _sets(root, **extra):
    values = {"data.root": str(root), "data.train_scales": "[64]", "data.test_scale": 64,
              "data.max_size": 80, "data.crop_prob": 0.0, "data.val_size": 3,
              "train.epochs": 2, "train.batch_size": 2, "train.log_every": 1,
              "model.detector.num_queries": 4, **extra}
    return [a for k, v in values.items() for a in ("--set", f"{k}={v}")]


def _train(*args):
    return main(["train", "--config", "synthetic_tiny", "--no-progress", *args])


def test_train_resume_matches_an_uninterrupted_run(syn_root, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert _train(*_sets(syn_root), "--output", str(full)) == 0
    # a run stopped after its first epoch, then resumed to the second (the test split, scored
    # after training, does not change the weights: skipped to save time)
    short = {"train.epochs": 1, "train.eval_test": "false"}
    assert _train(*_sets(syn_root, **short), "--output", str(cut)) == 0
    assert main(["train", "--resume", str(cut), "--set", "train.epochs=2", "--no-progress"]) == 0
    a = load_checkpoint(full / "checkpoints" / "last.pt")
    b = load_checkpoint(cut / "checkpoints" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2 and a["step"] == b["step"] == 12 // 2 * 2
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    for k, v in a["optimizer"]["state"].items():
        assert torch.equal(v["exp_avg"], b["optimizer"]["state"][k]["exp_avg"])

    run = json.loads((full / "run.json").read_text())
    assert run["data"]["validation"]["images"] == 3 and run["data"]["train"]["images"] == 12
    assert run["label_space"] == resolve_label_space(load_config(full / "config.yaml").data
                                                     ).fingerprint
    records = read_metrics(full / "metrics.jsonl")
    assert [r["epoch"] for r in records if r["kind"] == "val"] == [0, 1]
    test = json.loads((full / "test_metrics.json").read_text())
    assert test["num_images"] == 5 and 0.0 <= test["mAP"] <= 1.0
    weights = load_safetensors(full / "model.safetensors")
    assert weights["label_space"] == run["label_space"]
    assert main(["plot", str(full)]) == 0 and (full / "plots" / "map.png").is_file()
    assert "resumed" in json.loads((cut / "run.json").read_text())


def test_cli_refuses_to_overwrite_or_resume_a_non_run(syn_root, tmp_path, capsys):
    (tmp_path / "old" / "checkpoints").mkdir(parents=True)
    assert _train(*_sets(syn_root), "--output", str(tmp_path / "old")) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "no config.yaml" in capsys.readouterr().err
    assert _train("--output", str(tmp_path / "new"), "--set", "train.epochs=0") == 2
    assert "train.epochs must be >= 1" in capsys.readouterr().err


def test_zero_shot_run_data_and_unseen_seen_metrics(syn_root):
    config = load_config("synthetic_tiny", [f"data.root={syn_root}", "data.zero_shot=rf_uc",
                                            "data.val_size=2"])
    space = resolve_label_space(config.data)
    data = build_run_data(config, space)
    unseen = set(space.zero_shot["rf_uc"].unseen_interactions)
    for ds in (data.train, data.val):
        ann = ds.annotations
        inter = space.interaction_table[torch.from_numpy(ann.pair_verbs).nonzero()[:, 1],
                                        torch.from_numpy(ann.pair_object_labels())[
                                            torch.from_numpy(ann.pair_verbs).nonzero()[:, 0]]]
        assert not unseen & set(inter.tolist())
    assert data.summary["zero_shot"]["pairs"] < data.summary["input"]["pairs"]
    from openhoi.engine.run import ground_truth
    from openhoi.evaluation.build import build_evaluator

    evaluator = build_evaluator(config, ground_truth(data.test), space)
    evaluator.process([])
    assert {"mAP_unseen", "mAP_seen", "mAP"} <= set(evaluator.evaluate())


@pytest.mark.slow
def test_torchrun_two_processes_match_one(syn_root, tmp_path):
    """``torchrun --nproc_per_node=2 -m openhoi train`` (gloo on CPU) ends where one process
    with the same total batch does. Augmentations are off (each rank draws its own), and the
    single process accumulates two batches of one image: padding a batch changes a DETR's
    output (the mask is resized with the padded feature map), and the criterion's per-batch
    means are then averaged the same way as DDP averages the ranks' gradients. The backbone
    uses the recipes' frozen BatchNorm: trainable BatchNorm (the tiny recipe's) keeps running
    statistics per rank, and DDP broadcasts rank 0's, so those buffers differ."""
    import subprocess
    import sys

    sets = _sets(syn_root, **{"data.flip_prob": 0.0, "data.color_jitter": "[0.0,0.0,0.0]",
                              "train.eval_test": "false",
                              "model.detector.backbone_norm": "frozen_bn"})
    assert _train(*sets, "--set", "train.grad_accum_steps=2", "--output",
                  str(tmp_path / "one")) == 0
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "openhoi", "train", "--config", "synthetic_tiny", "--no-progress",
           "--device", "cpu", *sets, "--output", str(tmp_path / "two")]
    subprocess.run(cmd, check=True, timeout=900)
    assert json.loads((tmp_path / "two" / "run.json").read_text())["world_size"] == 2
    one = load_checkpoint(tmp_path / "one" / "checkpoints" / "last.pt")
    two = load_checkpoint(tmp_path / "two" / "checkpoints" / "last.pt")
    assert len(two["rng"]) == 2 and one["step"] == two["step"]
    for k, v in one["model"].items():
        torch.testing.assert_close(two["model"][k], v, rtol=1e-3, atol=1e-4, msg=k)


def _oracle(targets, space, num_queries=8):
    """Raw outputs that put every ground-truth pair of ``targets`` in a query, confidently."""
    b = len(targets)
    obj = torch.full((b, num_queries, space.num_objects + 1), -10.0)
    obj[..., -1] = 10.0  # unused queries: no object
    inter = torch.full((b, num_queries, space.num_interactions), -10.0)
    boxes = {"h": torch.full((b, num_queries, 4), 0.5), "o": torch.full((b, num_queries, 4), 0.5)}
    for i, t in enumerate(targets):
        h, w = t.size
        labels = t.pair_object_labels(space.num_objects)
        for key, xyxy in zip("ho", t.pair_boxes_xyxy()):
            x1, y1, x2, y2 = (xyxy / torch.tensor([w, h, w, h])).unbind(-1)
            boxes[key][i, : t.num_pairs] = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2,
                                                        x2 - x1, y2 - y1], -1)
        rows = torch.arange(t.num_pairs)
        obj[i, rows, -1] = -10.0
        obj[i, rows, labels] = 10.0
        inter[i, : t.num_pairs][space.pair_interactions(t.verbs, labels) > 0] = 10.0
    return HOIRawOutput(obj, boxes["h"], boxes["o"], inter,
                        extras={"zs_logits": torch.zeros(b, space.num_interactions)})


def test_oracle_outputs_score_full_map_through_the_validation_path(syn_root):
    """Ground truth turned into raw outputs, through the validation loader (test-time
    transforms), the recipe's post-processor, the gathered evaluation and the evaluator built
    from the held-out images' ground truth, scores mAP 1: every rescaling on the way agrees."""
    from openhoi.data.loader import collate
    from openhoi.engine.evaluate import evaluate
    from openhoi.engine.loaders import eval_loader
    from openhoi.engine.run import ground_truth
    from openhoi.evaluation.build import build_evaluator
    from openhoi.models.build import build_model_parts

    config = load_config("synthetic_tiny", [f"data.root={syn_root}", "data.val_size=4"])
    space = resolve_label_space(config.data)
    data = build_run_data(config, space)
    postprocessor = build_model_parts(config, space, torch.device("cpu")).postprocess

    class Oracle(torch.nn.Module):
        targets: list = []

        def forward(self, batch):
            return _oracle(self.targets, space)

    model = Oracle()

    def batches():
        for images, targets in eval_loader(data.val, 3, collate):
            model.targets = targets
            yield images, targets

    evaluator = build_evaluator(config, ground_truth(data.val), space)
    results = evaluate(model, postprocessor, batches(), evaluator, torch.device("cpu"))
    assert results["num_images"] == 4 and results["num_gt"] > 0
    assert results["mAP"] == pytest.approx(1.0) and results["mean_max_recall"] == 1.0


def test_train_precision_bf16_autocasts_on_cpu_and_evaluates_in_fp32(syn_root, tmp_path,
                                                                     monkeypatch):
    """`--precision bf16` sets train.amp (saved with the run) and the CPU forward pass really
    runs under bf16 autocast, while the test split is scored in fp32."""
    from openhoi.engine import evaluate as eval_mod
    from openhoi.engine import train as train_mod

    seen, seen_eval = [], []
    real = train_mod.autocast

    def spy(into):
        def wrapped(device, dtype):
            into.append(dtype)
            return real(device, dtype)
        return wrapped

    monkeypatch.setattr(train_mod, "autocast", spy(seen))
    monkeypatch.setattr(eval_mod, "autocast", spy(seen_eval))
    out = tmp_path / "bf16"
    sets = _sets(syn_root, **{"train.epochs": 1, "data.val_size": 0})
    assert _train(*sets, "--precision", "bf16", "--output", str(out)) == 0
    assert load_config(out / "config.yaml").train.amp == "bf16"
    assert seen and set(seen) == {torch.bfloat16}  # every training forward
    assert seen_eval and set(seen_eval) == {None}  # the test split: fp32
    metrics = json.loads((out / "test_metrics.json").read_text())
    assert 0.0 <= metrics["mAP"] <= 1.0


def test_fast_dropout_switch_reaches_every_dropout_and_resume_stays_exact(syn_root, tmp_path,
                                                                          monkeypatch):
    """`train.fast_dropout` is applied to the trained model by `fit` (every Dropout and
    attention), and a run with dropout resumes to the same weights as an uninterrupted one (the
    cheap masks draw from the checkpointed generator)."""
    from openhoi.engine import train as train_mod

    calls = []
    real = train_mod.set_fast_dropout

    def spy(model, enabled):
        calls.append((enabled, real(model, enabled)))
        return calls[-1][1]

    monkeypatch.setattr(train_mod, "set_fast_dropout", spy)
    host = []  # fit keeps freed host memory (openhoi.host_memory), once per run
    monkeypatch.setattr(train_mod, "apply_host_memory_env", lambda: host.append(True))
    drop = {"model.detector.dropout": 0.1, "model.interaction.dropout": 0.1,
            "data.val_size": 0, "train.eval_test": "false"}
    assert _train(*_sets(syn_root, **drop, **{"train.fast_dropout": "false"}),
                  "--output", str(tmp_path / "torch")) == 0
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert _train(*_sets(syn_root, **drop), "--output", str(full)) == 0
    assert _train(*_sets(syn_root, **drop, **{"train.epochs": 1}), "--output", str(cut)) == 0
    assert main(["train", "--resume", str(cut), "--set", "train.epochs=2", "--no-progress"]) == 0
    assert [c[0] for c in calls] == [False, True, True, True] and min(c[1] for c in calls) > 5
    assert host == [True] * 4
    a = load_checkpoint(full / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(cut / "checkpoints" / "last.pt")["model"]
    t = load_checkpoint(tmp_path / "torch" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(v, b[k]) for k, v in a.items())
    assert not all(torch.equal(v, t[k]) for k, v in a.items())  # another random stream
