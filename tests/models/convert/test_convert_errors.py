"""Bad reference checkpoints: errors name the file, the key and the shapes."""

import argparse
import pickle

import pytest
import torch
from reference_layouts import CLIP_W, hoiclip_layout, hoiclip_verb2hoi, random_state, release

from openhoi.errors import CheckpointError
from openhoi.label_space import load_label_space
from openhoi.models.convert import convert_checkpoint
from openhoi.models.convert.reader import read_reference_checkpoint


@pytest.fixture(scope="module")
def hico_state():
    space = load_label_space("hicodet")
    state = random_state(hoiclip_layout(space.num_interactions, space.num_objects + 1,
                                        space.num_verbs))
    state["verb2hoi_proj"] = state["verb2hoi_proj_eval"] = hoiclip_verb2hoi(space)
    return state


def _write(tmp_path, state, **args):
    path = tmp_path / "ref.pth"
    torch.save(release(state, **args), path)
    return path


def test_unknown_key_is_named(tmp_path, hico_state):
    state = dict(hico_state, **{"transformer.extra_head.weight": torch.zeros(3, 3)})
    path = _write(tmp_path, state)
    with pytest.raises(CheckpointError, match=r"transformer\.extra_head\.weight") as err:
        convert_checkpoint(path, "hoiclip")
    assert str(path) in str(err.value) and "no place in the openhoi model" in str(err.value)


def test_missing_key_is_named(tmp_path, hico_state):
    state = dict(hico_state)
    del state["transformer.clip_interaction_decoder.layers.1.linear2.bias"]
    path = _write(tmp_path, state)
    with pytest.raises(CheckpointError, match=r"head\.decoder\.layers\.1\.linear2\.bias") as err:
        convert_checkpoint(path, "hoiclip")
    assert "has nothing for 1 tensor" in str(err.value) and str(path) in str(err.value)
    assert "(reference key transformer.clip_interaction_decoder.layers.1.linear2.bias)" in str(
        err.value)


def test_shape_mismatch_names_both_keys_and_shapes(tmp_path, hico_state):
    state = dict(hico_state, **{"transformer.obj_class_ln.weight": torch.ones(CLIP_W + 2)})
    path = _write(tmp_path, state)
    with pytest.raises(CheckpointError) as err:
        convert_checkpoint(path, "hoiclip")
    msg = str(err.value)
    assert "transformer.obj_class_ln.weight" in msg and "head.memory_proj.norm.weight" in msg
    assert f"[{CLIP_W + 2}]" in msg and f"[{CLIP_W}]" in msg


def test_wrong_source_is_named(tmp_path, hico_state):
    path = _write(tmp_path, hico_state)
    with pytest.raises(CheckpointError, match="use --from hoiclip"):
        convert_checkpoint(path, "gen-vlkt")
    with pytest.raises(Exception, match="choose one of"):
        convert_checkpoint(path, "qpic")


def test_label_space_that_does_not_fit(tmp_path, hico_state):
    path = _write(tmp_path, hico_state)
    with pytest.raises(CheckpointError, match=r"'vcoco'.*600 rows"):
        convert_checkpoint(path, "hoiclip", label_space="vcoco")


def test_object_rows_that_fit_no_rule(tmp_path, hico_state):
    state = dict(hico_state)
    for part in ("weight", "bias"):
        state[f"obj_visual_projection.{part}"] = state[f"obj_visual_projection.{part}"][:70]
    path = _write(tmp_path, state, dataset_file="hico")
    with pytest.raises(CheckpointError, match=r"obj_visual_projection\.weight 70\b"):
        convert_checkpoint(path, "hoiclip")  # args name HICO-DET: 80 objects + 1 rows
    path = _write(tmp_path, state)
    with pytest.raises(CheckpointError, match=r"fitting shipped spaces: none"):
        convert_checkpoint(path, "hoiclip")  # no args: no shipped space has those counts


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_files_that_need_code_to_load_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": {"a": torch.zeros(1)}, "extra": _Evil()}, path, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="cannot be read safely") as err:
        read_reference_checkpoint(path)
    assert str(path) in str(err.value)


def test_corrupt_files_are_not_reported_as_unsafe(tmp_path):
    """A file that is no checkpoint at all is unreadable, not a refused type; the DETR reader
    shares the loader, so it refuses code the same way."""
    from openhoi.models.detr.detr_checkpoint import read_state_dict

    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pth: cannot read checkpoint"):
        read_reference_checkpoint(bad)
    evil = tmp_path / "evil.pth"
    torch.save({"model": {"a": torch.zeros(1)}, "extra": _Evil()}, evil, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="evil.pth: cannot be read safely.*GLOBAL"):
        read_state_dict(evil)


def test_reader_accepts_bare_and_ddp_state_dicts(tmp_path):
    path = tmp_path / "bare.pth"
    torch.save({"module.a.weight": torch.ones(2), "module.b": torch.zeros(1)}, path)
    ckpt = read_reference_checkpoint(path)
    assert set(ckpt.state) == {"a.weight", "b"} and ckpt.args is None
    path = tmp_path / "full.pth"
    torch.save({"model": {"x": torch.ones(1)}, "args": argparse.Namespace(nheads=8), "epoch": 3},
               path)
    ckpt = read_reference_checkpoint(path)
    assert ckpt.arg("nheads") == 8 and ckpt.arg("missing", "d") == "d" and ckpt.epoch == 3
    with pytest.raises(CheckpointError, match="not found"):
        read_reference_checkpoint(tmp_path / "nope.pth")
