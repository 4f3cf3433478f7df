"""``DefrModel.retarget`` (open vocabulary): trained rows kept bit for bit, new rows from the
text encoder the model was built with (CLIP text through the dropped visual projection, or
MiniLM as it is), refusal where the rows have no text."""

import pytest
import torch
import torch.nn.functional as F

from openhoi import checkpoint as ckpt_io
from openhoi.config import load_config
from openhoi.label_space import class_index_maps, load_label_space
from openhoi.models.build import load_model
from openhoi.models.clip.text_encoders import packaged_minilm_folder
from openhoi.models.contract import OpenVocabularyError
from openhoi.models.defr.build import build_defr
from openhoi.open_vocab import open_vocab_label_space

ENTRIES = ["feed giraffe", "kick sports ball", "ride horse", "hold cup"]
TINY = ["model.backbone.image_size=32"]


@pytest.fixture(scope="module")
def space():
    return load_label_space("synthetic")


def _trained(parts):
    """Move every classifier row away from its initialisation, as training would."""
    with torch.no_grad():
        for p in parts.model.classifier.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return parts.model


def _reload(model, config, space, folder):
    path = folder / "model.pt"
    ckpt_io.save_checkpoint(path, ckpt_io.make_checkpoint(model=model, config=config,
                                                          label_space=space))
    return load_model(path).model  # built with pretrained=False: no text tower at hand


def _check_rows(after, before, new, space, want_new):
    """Known interactions keep ``before``'s rows exactly; new ones equal ``want_new``."""
    inter_idx, _, _ = class_index_maps(space, new)
    assert after.shape[0] == new.num_interactions
    for i, j in enumerate(inter_idx):
        if j >= 0:
            assert torch.equal(after[i], before[j])
        else:
            assert torch.allclose(after[i], want_new[i], atol=1e-5), new.interactions[i]
    return inter_idx


def test_clip_rows_of_new_interactions_go_through_the_visual_projection(tiny_clip_file, space,
                                                                         tmp_path):
    path, clip = tiny_clip_file
    cfg = load_config("synthetic_defr", TINY + [
        "model.backbone.kind=open_clip", "model.backbone.arch=openhoi-tiny",
        f"model.backbone.weights={path}", "model.classifier.embed_dim=null",
        "model.text.encoder=clip", "model.text.templates=photo"])
    torch.manual_seed(1)
    model = _reload(_trained(build_defr(cfg.model, space)), cfg, space, tmp_path)
    before = model.classifier.weight.detach().clone()
    new = open_vocab_label_space(ENTRIES, space)
    model.retarget(new, space)
    import open_clip

    tok = open_clip.get_tokenizer("openhoi-tiny")
    with torch.no_grad():  # CLIP text of the template, mapped as DEFR: (proj @ T^T)^T
        t = F.normalize(clip.encode_text(tok([f"a photo of {p}"
                                              for p in new.interaction_phrases])), dim=-1)
    want = t @ clip.visual.proj.detach().T  # [I', W]
    inter_idx = _check_rows(model.classifier.weight.detach(), before, new, space, want)
    assert sorted(inter_idx)[:2] == [-1, -1] and max(inter_idx) >= 0  # both kinds present
    assert model.classifier.weight.requires_grad  # still a trainable parameter
    logits = model(_images(model.image_size)).logits
    assert logits.shape == (2, new.num_interactions)


def test_minilm_rows_and_the_linear_classifier(space, tmp_path):
    cfg = load_config("synthetic_defr", TINY + ["model.classifier.kind=linear"])
    torch.manual_seed(2)
    model = _trained(build_defr(cfg.model, space))
    lin = model.classifier.linear
    before_w, before_b = lin.weight.detach().clone(), lin.bias.detach().clone()
    new = open_vocab_label_space(ENTRIES, space)
    model.retarget(new, space)
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(packaged_minilm_folder()), device="cpu")
    text = F.normalize(torch.as_tensor(st.encode(list(new.interaction_phrases))), dim=-1)
    inter_idx = _check_rows(model.classifier.linear.weight.detach(), before_w, new, space, text)
    bias = model.classifier.linear.bias.detach()
    for i, j in enumerate(inter_idx):
        assert bias[i] == (before_b[j] if j >= 0 else 0.0)


def test_random_rows_refuse_new_interactions_but_reorder_trained_ones(space, tmp_path):
    cfg = load_config("synthetic_defr", TINY + ["model.classifier.init=random"])
    torch.manual_seed(3)
    model = build_defr(cfg.model, space).model
    assert model.language_rows is None
    new = open_vocab_label_space(ENTRIES, space)
    with pytest.raises(OpenVocabularyError, match="feeding a giraffe.*init=random"):
        model.retarget(new, space)
    before = model.classifier.weight.detach().clone()
    known = open_vocab_label_space(["hold cup", "kick sports ball"], space)
    model.retarget(known, space)
    inter_idx, _, _ = class_index_maps(space, known)
    assert torch.equal(model.classifier.weight.detach(), before[inter_idx])


def test_a_random_clip_text_tower_cannot_be_rebuilt(space):
    cfg = load_config("synthetic_defr", TINY + [
        "model.backbone.kind=open_clip", "model.backbone.arch=openhoi-tiny",
        "model.classifier.embed_dim=null", "model.text.encoder=clip",
        "model.text.templates=photo"])
    model = build_defr(cfg.model, space).model
    with pytest.raises(OpenVocabularyError, match="model.backbone.weights is unset"):
        model.retarget(open_vocab_label_space(ENTRIES, space), space)


def _images(size):
    from openhoi.structures import ImageBatch

    g = torch.Generator().manual_seed(0)
    return ImageBatch(torch.randn(2, 3, size, size, generator=g),
                      torch.zeros(2, size, size, dtype=torch.bool), torch.tensor([[size] * 2] * 2))
