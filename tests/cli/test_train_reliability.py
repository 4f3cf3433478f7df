"""`openhoi train` under bad input and faults: a NaN stop with exit 3 (not scipy's error), an
empty training set refused before a run folder exists, disk full / read-only folders named
with exit 2 and earlier files intact, --skip-invalid, and the --epochs/--batch-size/--seed
shortcuts."""

import json
import os

import pytest
import torch

from openhoi.checkpoint import load_checkpoint, make_checkpoint, rng_state, save_checkpoint
from openhoi.cli import main
from openhoi.config import load_config, save_config
from openhoi.data.dataset import resolve_label_space
from openhoi.data.synthetic import generate_synthetic
from openhoi.engine.optim import build_optimizer, build_scheduler
from openhoi.models.build import build_model_parts

TINY = {"data.train_scales": "[64]", "data.test_scale": 64, "data.max_size": 80,
        "data.crop_prob": 0.0, "data.val_size": 0, "train.eval_test": "false",
        "train.log_every": 1, "model.detector.num_queries": 4}


@pytest.fixture(scope="module")
def syn_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate_synthetic(root, num_images=8, seed=3, test_fraction=0.25)  # 6 train, 2 test
    return root


def _sets(root, **extra):
    values = {"data.root": str(root), **TINY, **extra}
    return [a for k, v in values.items() for a in ("--set", f"{k}={v}")]


def _train(*args):
    return main(["train", "--config", "synthetic_tiny", "--no-progress", *args])


def test_nan_weights_stop_with_exit_3_epoch_step_images_and_checkpoint(syn_root, tmp_path,
                                                                      capsys):
    """A run whose weights went NaN: the Hungarian matcher used to raise scipy's "matrix
    contains invalid numeric entries" (exit 1) before the NaN stop could speak."""
    overrides = [f"{k}={v}" for k, v in {"data.root": str(syn_root), **TINY}.items()]
    config = load_config("synthetic_tiny", overrides)
    space = resolve_label_space(config.data)
    parts = build_model_parts(config, space, torch.device("cpu"))
    model = parts.model
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    opt = build_optimizer(model, config.train, parts.group_lrs)
    sched = build_scheduler(opt, config.train)
    run = tmp_path / "run"
    save_config(config, run / "config.yaml")
    last = run / "checkpoints" / "last.pt"
    save_checkpoint(last, make_checkpoint(model=model, config=config, label_space=space,
                                          optimizer=opt, scheduler=sched, epoch=1, step=1,
                                          rng=[rng_state()]))
    before = last.read_bytes()
    code = main(["train", "--resume", str(run), "--no-progress", "--epochs", "2",
                 "--batch-size", "2"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "loss is nan at epoch 1, optimizer step 2" in err
    assert "batch images: [" in err and ".jpg" in err
    assert f"last good checkpoint: {last}" in err
    assert last.read_bytes() == before  # the NaN step wrote nothing over it


@pytest.mark.parametrize("case", ["empty list", "no pairs"])
def test_empty_training_set_is_refused_before_a_run_folder_exists(syn_root, tmp_path, capsys,
                                                                 case):
    root = tmp_path / "data"
    (root / "annotations").mkdir(parents=True)
    (root / "images").symlink_to(syn_root / "images")
    for f in ("test_hico.json", "corre_hico.npy"):
        (root / "annotations" / f).write_bytes((syn_root / "annotations" / f).read_bytes())
    records = json.loads((syn_root / "annotations" / "trainval_hico.json").read_text())
    for r in records:
        r["hoi_annotation"] = []
    ann = root / "annotations" / "trainval_hico.json"
    ann.write_text("[]" if case == "empty list" else json.dumps(records))
    run = tmp_path / "run"
    assert _train(*_sets(root), "--output", str(run)) == 2
    err = capsys.readouterr().err
    assert str(ann) in err and "0 training images" in err
    assert "Add annotated images, or lower --batch-size" in err
    assert not run.exists()  # nothing that --resume would reject and --output refuse


def test_disk_full_while_checkpointing_exits_2_and_keeps_earlier_files(syn_root, tmp_path,
                                                                      monkeypatch, capsys):
    def enforce_fail(obj, f, *a, **k):  # what torch.save says on a full disk
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 9 vs 0")

    monkeypatch.setattr(torch, "save", enforce_fail)
    run = tmp_path / "run"
    code = _train(*_sets(syn_root), "--output", str(run), "--epochs", "1", "--batch-size", "2")
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"cannot write {run / 'checkpoints' / 'last.pt'}: " in err
    assert "no space left on the device" in err and "Free some space" in err
    config = load_config(run / "config.yaml")  # written before, still whole
    assert config.train.epochs == 1
    assert json.loads((run / "run.json").read_text())["label_space"]
    assert [p.name for p in (run / "checkpoints").iterdir()] == []  # no half checkpoint


def test_read_only_output_folder_exits_2_before_any_work(syn_root, tmp_path, read_only,
                                                         capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    read_only(parent)
    assert _train(*_sets(syn_root), "--output", str(parent / "run")) == 2
    err = capsys.readouterr().err
    assert str(parent / "run") in err and "not writable" in err
    assert "Choose a folder you can write to" in err


def test_skip_invalid_trains_past_an_unreadable_image(syn_root, tmp_path, capsys):
    root = tmp_path / "data"
    (root / "annotations").mkdir(parents=True)
    for f in (syn_root / "annotations").iterdir():
        (root / "annotations" / f.name).write_bytes(f.read_bytes())
    (root / "images").mkdir()
    for split in (syn_root / "images").iterdir():
        (root / "images" / split.name).mkdir()
        for img in split.iterdir():
            (root / "images" / split.name / img.name).write_bytes(img.read_bytes())
    first = json.loads((root / "annotations" / "trainval_hico.json").read_text())[0]
    broken = next((root / "images").glob(f"*/{first['file_name']}"))
    broken.write_bytes(b"\xff\xd8 truncated")
    run = tmp_path / "run"
    args = [*_sets(root), "--epochs", "1", "--batch-size", "2"]
    assert _train(*args, "--output", str(tmp_path / "strict")) == 2  # stops, names the file
    err = capsys.readouterr().err
    assert f"{broken}: cannot read image" in err and "pass --skip-invalid" in err
    assert _train(*args, "--skip-invalid", "--output", str(run)) == 0
    assert f"{broken}: cannot read image" in (run / "train.log").read_text()  # logged, skipped
    assert load_config(run / "config.yaml").data.skip_invalid


def test_shortcuts_and_every_run_file_is_0644(syn_root, tmp_path):
    """--epochs/--batch-size/--seed set the config; checkpoints, weights and run.json used to
    be 0600 (mkstemp) next to a 0644 config.yaml."""
    run = tmp_path / "run"
    old = os.umask(0o022)
    try:
        assert _train(*_sets(syn_root), "--output", str(run), "--epochs", "1",
                      "--batch-size", "3", "--seed", "7") == 0
    finally:
        os.umask(old)
    config = load_config(run / "config.yaml")
    assert (config.train.epochs, config.train.batch_size, config.train.seed) == (1, 3, 7)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 6 // 3
    files = [p for p in run.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"config.yaml", "run.json", "last.pt", "model.safetensors",
                                       "metrics.jsonl", "train.log"}
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {
        p.name: "0o644" for p in files}
