"""``openhoi convert``: report printed, checkpoint written, errors as one line (exit 2)."""

import sys
from pathlib import Path

import torch

from openhoi.cli import main

# the reference-layout tables live with the converter's tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models" / "convert"))
from reference_layouts import (  # noqa: E402
    gen_vlkt_layout,
    random_state,
    release,
    tiny_clip_state,
)


def test_convert_gen_vlkt_end_to_end(tmp_path, capsys):
    from openhoi.checkpoint import checkpoint_config, load_checkpoint
    from openhoi.label_space import load_label_space

    space = load_label_space("hicodet")
    ref = tmp_path / "gen_vlkt.pth"
    torch.save(release(random_state(gen_vlkt_layout(space.num_interactions,
                                                    space.num_objects + 1)), nheads=2), ref)
    clip = tmp_path / "clip.pt"
    torch.save(tiny_clip_state(), clip)
    out = tmp_path / "converted.pt"

    assert main(["convert", "--from", "gen-vlkt", str(ref), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("openhoi convert: error:") and "--clip-weights" in err

    assert main(["convert", "--from", "gen-vlkt", str(ref), str(out), "--clip-weights",
                 str(clip), "--set", "model.postprocess.use_nms=false"]) == 0
    printed = capsys.readouterr().out
    assert "model.detector.num_heads = 2  (args.nheads)" in printed
    assert "model.postprocess.use_nms = False  (--set)" in printed
    assert f"wrote {out}" in printed
    config = checkpoint_config(load_checkpoint(out))
    assert config.model.architecture == "gen_vlkt" and not config.model.postprocess.use_nms
