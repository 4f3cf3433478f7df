import torch

from openhoi.cli import main
from openhoi.config import ClipConfig
from openhoi.label_space import load_label_space
from openhoi.models.clip.class_text_embeddings import load_class_text_embeddings
from openhoi.models.clip.clip_knowledge import build_clip_knowledge
from openhoi.models.clip.text_classifier import text_embeddings


def test_embed_text_writes_checked_file(tmp_path, capsys):
    torch.manual_seed(0)
    weights = tmp_path / "tiny.pt"
    torch.save(build_clip_knowledge(ClipConfig(arch="openhoi-tiny")).model.state_dict(), weights)
    out = tmp_path / "text.safetensors"
    assert main(["embed-text", "--clip-arch", "openhoi-tiny", "--clip-weights", str(weights),
                 "--label-space", "synthetic", "--out", str(out)]) == 0
    assert "13 interaction and 6 object embeddings of size 32" in capsys.readouterr().out
    space = load_label_space("synthetic")
    emb = load_class_text_embeddings(out, label_space=space.fingerprint, arch="openhoi-tiny")
    clip = build_clip_knowledge(ClipConfig(arch="openhoi-tiny", weights=str(weights)))
    assert emb.metadata["weights_sha256"] == clip.weights_sha256
    prompts = ["a photo of a person kicking a sports ball", "a photo of nothing"]
    want = text_embeddings(clip, prompts)
    assert torch.allclose(emb.interactions[1], want[0], atol=1e-6)
    assert torch.allclose(emb.objects[-1], want[1], atol=1e-6)


def test_embed_text_bad_weights_exit_2(tmp_path, capsys):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"xx")
    assert main(["embed-text", "--clip-arch", "openhoi-tiny", "--clip-weights", str(bad),
                 "--label-space", "synthetic", "--out", str(tmp_path / "o.safetensors")]) == 2
    assert "broken.pt" in capsys.readouterr().err
