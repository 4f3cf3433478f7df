import pytest
import torch
from clip_test_utils import register_variant, save_torchscript, tiny_open_clip
from safetensors.torch import save_file

from openhoi.errors import CheckpointError, ConfigError
from openhoi.models.clip import clip_loading
from openhoi.models.clip.clip_loading import TINY_ARCH, load_clip_model, read_clip_weights


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.fixture(scope="module")
def ref():
    return tiny_open_clip(seed=3)


def test_state_dict_pt(tmp_path, ref):
    path = tmp_path / "clip.pt"
    torch.save(ref.state_dict(), path)
    model, info = load_clip_model(TINY_ARCH, path)
    _same_weights(model, ref)
    assert info.kind == "state_dict" and len(info.sha256) == 64 and info.quick_gelu is None


def test_safetensors_and_training_checkpoint(tmp_path, ref):
    st = tmp_path / "clip.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(st))
    _same_weights(load_clip_model(TINY_ARCH, st)[0], ref)
    # open_clip training checkpoint: {"state_dict": {"module.<key>": ...}, "epoch": ...}
    ckpt = tmp_path / "epoch_1.pt"
    torch.save({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}},
               ckpt)
    _same_weights(load_clip_model(TINY_ARCH, ckpt)[0], ref)


def test_custom_text_layout_is_mapped(tmp_path, ref):
    # open_clip CustomTextCLIP names the text tower "text.*"
    state = {(f"text.{k}" if not k.startswith(("visual.", "logit_scale")) else k): v
             for k, v in ref.state_dict().items()}
    path = tmp_path / "custom.bin"
    torch.save(state, path)
    _same_weights(load_clip_model(TINY_ARCH, path)[0], ref)


def test_torchscript_archive_like_openai(tmp_path, ref):
    model = tiny_open_clip(seed=3)
    path = save_torchscript(model, tmp_path / "ViT-tiny.pt", openai_meta=True)
    loaded, info = load_clip_model(TINY_ARCH, path)
    _same_weights(loaded, ref)
    assert info.kind == "torchscript" and info.quick_gelu is True
    assert "input_resolution" not in info.state_dict


def test_gelu_torchscript_into_quickgelu_arch_is_refused(tmp_path):
    path = save_torchscript(tiny_open_clip(quick_gelu=False), tmp_path / "gelu.pt")
    with pytest.raises(CheckpointError) as err:
        load_clip_model(TINY_ARCH, path)
    msg = str(err.value)
    assert "gelu.pt" in msg and "trained with GELU" in msg and TINY_ARCH in msg


def test_known_openai_file_into_gelu_arch_is_refused(tmp_path, ref, monkeypatch):
    gelu_arch = register_variant(tmp_path, "tiny-gelu-test", quick_gelu=False)
    path = tmp_path / "ViT-B-32.pt"
    torch.save(ref.state_dict(), path)
    sha = clip_loading.file_sha256(path)
    monkeypatch.setitem(clip_loading.OPENAI_RELEASE_SHA256, sha, TINY_ARCH)
    with pytest.raises(CheckpointError) as err:
        load_clip_model(gelu_arch, path)
    msg = str(err.value)
    assert "ViT-B-32.pt" in msg and "OpenAI release" in msg and "QuickGELU" in msg
    assert repr(TINY_ARCH) in msg  # the matching QuickGELU architecture is suggested


def test_shape_mismatch_names_file_key_shapes_and_fitting_arch(tmp_path):
    wide = register_variant(tmp_path, "tiny-wide-test", width=64)
    path = tmp_path / "wide.pt"
    torch.save(tiny_open_clip(seed=1).state_dict(), path)  # width 48 weights
    with pytest.raises(CheckpointError) as err:
        load_clip_model(wide, path)
    msg = str(err.value)
    assert "wide.pt" in msg and "'visual.class_embedding'" in msg
    assert "[48]" in msg and "[64]" in msg and repr(TINY_ARCH) in msg


def test_missing_and_unexpected_keys(tmp_path, ref):
    state = dict(ref.state_dict())
    del state["ln_final.weight"]
    path = tmp_path / "missing.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"missing\.pt.*'ln_final\.weight'.*missing"):
        load_clip_model(TINY_ARCH, path)
    state = dict(ref.state_dict(), extra_head=torch.zeros(3))
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"'extra_head' that the architecture lacks"):
        load_clip_model(TINY_ARCH, path)


def test_unreadable_and_absent_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        read_clip_weights(bad)
    with pytest.raises(CheckpointError, match="nope.pt.*not found"):
        read_clip_weights(tmp_path / "nope.pt")


def test_unknown_arch_suggests_names():
    with pytest.raises(ConfigError, match="ViT-B-32-quickgelu"):
        load_clip_model("ViT-B-32-quickgelu2", None)


def test_fp16_precision_keeps_layernorm_in_fp32(tmp_path, ref):
    path = tmp_path / "clip.pt"
    torch.save(ref.state_dict(), path)
    model, _ = load_clip_model(TINY_ARCH, path, precision="fp16")
    assert model.visual.conv1.weight.dtype == torch.float16
    assert type(model.visual.ln_post).__name__ == "LayerNormFp32"  # as OpenAI's fp16 LayerNorm
