import math

import pytest
import torch

from openhoi.config import ClipConfig
from openhoi.errors import CheckpointError
from openhoi.label_space import load_label_space
from openhoi.models.clip.class_text_embeddings import (
    class_text_embeddings,
    compute_class_text_embeddings,
    load_class_text_embeddings,
    save_class_text_embeddings,
)
from openhoi.models.clip.clip_knowledge import build_clip_knowledge
from openhoi.models.clip.clip_loading import TINY_ARCH
from openhoi.models.clip.text_classifier import (
    CosineClassifier,
    interaction_prompts,
    object_prompts,
    text_embeddings,
    with_article,
)
from openhoi.models.hoiclip.verb_repr import load_verb_representations


@pytest.fixture(scope="module")
def clip():
    torch.manual_seed(0)
    return build_clip_knowledge(ClipConfig(arch=TINY_ARCH))


@pytest.fixture(scope="module")
def space():
    return load_label_space("synthetic")


def test_articles_and_prompts(space):
    assert with_article("apple") == "an apple" and with_article("umbrella") == "an umbrella"
    assert with_article("cup") == "a cup" and with_article("hair_drier") == "a hair drier"
    assert object_prompts(space) == [
        "a photo of a person", "a photo of a sports ball", "a photo of a kite",
        "a photo of a cup", "a photo of a chair", "a photo of nothing"]
    assert object_prompts(space, no_object=None)[-1] == "a photo of a chair"
    assert interaction_prompts(space)[0] == "a photo of a person holding a sports ball"


def test_text_embeddings_are_normalised_encode_text(clip):
    prompts = ["a photo of a cup", "a photo of nothing"]
    emb = text_embeddings(clip, prompts)
    raw = clip.encode_text(prompts)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(2))
    assert torch.allclose(emb, raw / raw.norm(dim=-1, keepdim=True))


def test_cosine_logits_by_hand():
    cls = CosineClassifier.from_embeddings(torch.eye(2), bias=True)
    cls.set_weights(torch.eye(2), bias=torch.tensor([0.1, -0.2]))
    logits = cls(torch.tensor([[3.0, 4.0]]))
    # x / |x| = (0.6, 0.8); + bias = (0.7, 0.6); times 1 / 0.07
    assert torch.allclose(logits, torch.tensor([[0.7, 0.6]]) / 0.07, atol=1e-5)
    unscaled = CosineClassifier.from_embeddings(torch.eye(2), logit_scale=None)
    assert torch.allclose(unscaled(torch.tensor([[3.0, 4.0]])), torch.tensor([[0.6, 0.8]]))


def test_matches_reference_parameterisation():
    """HOICLIP: logit_scale.exp() * nn.Linear(E, C)(x / x.norm()), weights = state-dict keys."""
    torch.manual_seed(1)
    linear = torch.nn.Linear(8, 5)
    scale = torch.tensor(math.log(1 / 0.07)) + 0.3
    cls = CosineClassifier(5, 8, bias=True)
    cls.load_state_dict({"weight": linear.weight, "bias": linear.bias, "logit_scale": scale})
    x = torch.randn(2, 6, 8)
    want = scale.exp() * linear(x / x.norm(dim=-1, keepdim=True))
    assert torch.equal(cls(x), want)
    assert set(cls.state_dict()) == {"weight", "bias", "logit_scale"}


def test_trainable_flags_and_replacement():
    cls = CosineClassifier(3, 4, bias=True, trainable=False)
    assert not cls.weight.requires_grad and not cls.bias.requires_grad
    assert cls.logit_scale.requires_grad
    new = torch.nn.functional.normalize(torch.randn(7, 4), dim=-1)
    cls.set_weights(new)
    assert cls.num_classes == 7 and torch.equal(cls.weight, new)
    assert torch.equal(cls.bias, torch.zeros(7)) and not cls.weight.requires_grad
    assert cls(torch.randn(2, 4)).shape == (2, 7)
    with pytest.raises(ValueError, match=r"\[C, 4\]"):
        cls.set_weights(torch.randn(3, 5))
    no_scale = CosineClassifier(3, 4, learn_logit_scale=False)
    assert not no_scale.logit_scale.requires_grad
    assert torch.isclose(no_scale.logit_scale.exp(), torch.tensor(1 / 0.07))


def test_text_embedding_file_round_trip(tmp_path, clip, space):
    cfg = ClipConfig(arch=TINY_ARCH)
    emb = compute_class_text_embeddings(clip, space, cfg)
    assert emb.interactions.shape == (space.num_interactions, 32)
    assert emb.objects.shape == (space.num_objects + 1, 32)
    path = tmp_path / "text.safetensors"
    save_class_text_embeddings(path, emb)
    loaded = class_text_embeddings(ClipConfig(arch=TINY_ARCH, text_embeddings=str(path)), space,
                                   clip)
    assert torch.equal(loaded.interactions, emb.interactions)
    assert torch.equal(loaded.objects, emb.objects)
    assert loaded.metadata["object_prompts"][-1] == "a photo of nothing"


def test_text_embedding_file_mismatches(tmp_path, clip, space):
    path = tmp_path / "text.safetensors"
    save_class_text_embeddings(path, compute_class_text_embeddings(clip, space,
                                                                   ClipConfig(arch=TINY_ARCH)))
    other = ClipConfig(arch=TINY_ARCH, text_embeddings=str(path),
                       interaction_template="an image of {}")
    with pytest.raises(CheckpointError, match=r"text\.safetensors.*'interaction_prompts' entry 0"):
        class_text_embeddings(other, space, clip)
    with pytest.raises(CheckpointError, match=r"'arch' is 'openhoi-tiny', expected 'ViT"):
        load_class_text_embeddings(path, arch="ViT-B-32-quickgelu")
    with pytest.raises(CheckpointError, match="'format'"):
        load_verb_representations(path)
