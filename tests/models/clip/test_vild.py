"""ViLD object head: the formulas by hand, unseen classes out of the softmax, gradients,
the ensemble, open-vocabulary retarget, and the crop-embedding cache (reused, rebuilt)."""

import math

import pytest
import torch
import torch.nn.functional as F

from openhoi.config import DataConfig, ViLDConfig
from openhoi.data.dataset import build_dataset
from openhoi.data.synthetic import generate_synthetic
from openhoi.errors import ConfigError
from openhoi.label_space import load_label_space
from openhoi.models.build import build_criterion, build_model, build_postprocess
from openhoi.models.clip import vild_crops
from openhoi.models.clip.vild import (
    IMAGE_EMBED,
    OBJ_LOG_PROBS,
    ViLDObjectClassifier,
    ensemble_log_probs,
    vild_image_loss,
)
from openhoi.models.clip.vild_crops import CropLookup, cached_crop_embeddings
from openhoi.models.detr.matcher import PairTargets
from openhoi.models.detr.postprocess import PostProcessor
from openhoi.structures import HOIRawOutput


def test_text_branch_is_temperature_times_cosine_with_a_learned_background():
    torch.manual_seed(0)
    text = torch.randn(3, 8)
    head = ViLDObjectClassifier(5, text, temperature=100.0)
    x = torch.randn(2, 4, 5)
    logits, extras = head(x)
    assert logits.shape == (2, 4, 4) and extras == {}
    region = F.normalize(head.text_proj(x), dim=-1)
    classes = torch.cat([F.normalize(text, dim=-1), F.normalize(head.background, dim=-1)[None]])
    torch.testing.assert_close(logits, 100.0 * region @ classes.T)
    # The class rows are frozen buffers; the projection and the background train.
    assert "text_embeds" not in dict(head.named_parameters())
    logits.logsumexp(-1).sum().backward()
    assert head.background.grad is not None and head.text_proj.weight.grad is not None


def test_ensemble_weights_novel_and_base_classes_as_vild():
    text = torch.tensor([[1.0, 2.0, 0.5, 0.0]])  # 3 objects + background
    image = torch.tensor([[0.0, 3.0, 1.0]])
    novel = torch.tensor([False, True, False])
    out = ensemble_log_probs(text, image, novel, 2 / 3)
    pt, pi = text.softmax(-1), image.softmax(-1)
    expected = torch.stack([pt[0, 0] ** (2 / 3) * pi[0, 0] ** (1 / 3),
                            pt[0, 1] ** (1 / 3) * pi[0, 1] ** (2 / 3),
                            pt[0, 2] ** (2 / 3) * pi[0, 2] ** (1 / 3), pt[0, 3]])
    torch.testing.assert_close(out.exp()[0], expected)


def test_postprocessor_scores_objects_from_the_ensemble():
    space = load_label_space("synthetic")
    pp = PostProcessor(space.interaction_object, space.human_label, obj_score="softmax")
    o = space.num_objects + 1
    logits = torch.randn(1, 2, o)
    log_probs = torch.randn(1, 2, o).log_softmax(-1)
    out = HOIRawOutput(logits, torch.rand(1, 2, 4), torch.rand(1, 2, 4),
                       torch.randn(1, 2, space.num_interactions))
    torch.testing.assert_close(pp.object_probs(out), logits.softmax(-1))
    out.extras[OBJ_LOG_PROBS] = log_probs
    torch.testing.assert_close(pp.object_probs(out), log_probs.exp())


def _vild_cfg(tiny_cfg, **vild):
    return tiny_cfg(detector={"obj_head": "vild", "train_backbone": False},
                    postprocess={"obj_score": "softmax"}, vild=vild)


def test_unseen_objects_are_out_of_the_softmax_and_get_no_gradient(
        synthetic_space, tiny_cfg, make_batch, make_targets):
    torch.manual_seed(0)
    cfg = _vild_cfg(tiny_cfg)
    model = build_model(cfg, synthetic_space)
    columns = torch.tensor(synthetic_space.seen_interactions("uo"))
    criterion = build_criterion(cfg, synthetic_space, columns)
    cup = synthetic_space.objects.index("cup")
    assert criterion.unseen_objects.nonzero().flatten().tolist() == [cup]
    targets = [make_targets(synthetic_space, [[2, 2, 30, 60], [35, 20, 70, 40]], [0, 1],
                            [[0, 1]], [[0]], (64, 80))]
    out = model(make_batch([(64, 80)]))
    out.obj_logits.retain_grad()
    loss = criterion(out, targets, 1.0)["loss_obj_ce"]
    loss.backward()
    assert torch.isfinite(loss)
    assert out.obj_logits.grad[..., cup].abs().sum() == 0  # never trained, not even down
    assert out.obj_logits.grad[..., 2].abs().sum() > 0
    # The closed-vocabulary criterion does push the unseen class down.
    closed = build_criterion(tiny_cfg(), synthetic_space, columns)
    assert closed.unseen_objects is None


def test_image_loss_by_hand_and_its_gradient_stays_in_the_image_branch():
    torch.manual_seed(0)
    head = ViLDObjectClassifier(6, torch.randn(3, 8), image_text_embeds=torch.randn(3, 4))
    x = torch.randn(1, 5, 6)
    logits, extras = head(x)
    assert extras[IMAGE_EMBED].shape == (1, 5, 4) and extras[OBJ_LOG_PROBS].shape == (1, 5, 4)
    crop = torch.randn(2, 4)
    pt = PairTargets(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, dtype=torch.long),
                     torch.ones(2, dtype=torch.bool), torch.zeros(2, 1), torch.zeros(2, 1),
                     extras={"crop_embed": crop, "crop_valid": torch.tensor([True, False])})
    out = HOIRawOutput(logits, torch.zeros(1, 5, 4), torch.zeros(1, 5, 4), torch.zeros(1, 5, 1),
                       extras={IMAGE_EMBED: extras[IMAGE_EMBED]})
    indices = [(torch.tensor([3, 1]), torch.tensor([0, 1]))]
    loss = vild_image_loss(out, [pt], indices, 1.0)
    expected = (extras[IMAGE_EMBED][0, 3] - F.normalize(crop[0], dim=-1)).abs().sum()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert head.image_proj.weight.grad.abs().sum() > 0
    assert head.text_proj.weight.grad is None and head.background.grad is None


def test_vild_config_checks(tiny_cfg, synthetic_space):
    with pytest.raises(ConfigError, match="obj_head: vild"):
        tiny_cfg(vild={"image_weight": 0.5})
    with pytest.raises(ConfigError, match="templates"):
        ViLDConfig(templates=("no placeholder",))
    with pytest.raises(ConfigError, match="crop_embeddings"):
        build_criterion(_vild_cfg(tiny_cfg, image_weight=0.5), synthetic_space)


@pytest.fixture(scope="module")
def tiny_synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("vild_syn")
    generate_synthetic(root, num_images=6, seed=4, test_fraction=0.34)
    return root


def _crop_cache(root, clip, cache, scale, space):
    dataset = build_dataset(DataConfig(dataset="synthetic", root=str(root)), "train", space,
                            transforms=None)
    return cached_crop_embeddings(cache, clip, dataset, scale, space.fingerprint), dataset


def test_crop_cache_is_reused_and_rebuilt_when_the_key_changes(
        tiny_synthetic, tmp_path, synthetic_space, tiny_cfg, monkeypatch):
    torch.manual_seed(0)
    model = build_model(_vild_cfg(tiny_cfg, image_weight=0.5), synthetic_space)
    clip = model.clip
    (path, built), dataset = _crop_cache(tiny_synthetic, clip, tmp_path, 1.5, synthetic_space)
    assert built and path.is_file()
    crops = vild_crops.load_crop_embeddings(path)
    n_objects = sum(len(vild_crops.pair_object_boxes(dataset.ground_truth(i)))
                    for i in range(len(dataset)))
    assert crops.embeddings.shape == (n_objects, clip.embed_dim)

    def no_encoding(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(vild_crops, "encode_crops", no_encoding)
    (again, built), _ = _crop_cache(tiny_synthetic, clip, tmp_path, 1.5, synthetic_space)
    assert again == path and not built
    monkeypatch.undo()
    (other, built), _ = _crop_cache(tiny_synthetic, clip, tmp_path, 1.0, synthetic_space)
    assert built and other != path  # another crop rule: another key
    with torch.no_grad():  # other CLIP weights: another key
        clip.model.visual.proj.add_(1.0)
    (third, built), _ = _crop_cache(tiny_synthetic, clip, tmp_path, 1.5, synthetic_space)
    assert built and third not in (path, other)


def test_crop_lookup_undoes_resize_and_flip(tiny_synthetic, tmp_path, synthetic_space,
                                            tiny_cfg):
    from openhoi.data.transforms import hflip, resize

    torch.manual_seed(0)
    clip = build_model(_vild_cfg(tiny_cfg, image_weight=0.5), synthetic_space).clip
    (path, _), dataset = _crop_cache(tiny_synthetic, clip, tmp_path, 1.5, synthetic_space)
    crops = vild_crops.load_crop_embeddings(path)
    image, targets = dataset.load(0)
    image2, moved = hflip(*resize(image, targets, 97, None))
    lookup = CropLookup(path)
    (plain,), (flipped,) = lookup([targets]), lookup([moved])
    assert plain["crop_valid"].all() and flipped["crop_valid"].all()
    torch.testing.assert_close(plain["crop_embed"], flipped["crop_embed"])
    own = crops.embeddings[crops.image_idx == 0]
    o_idx = targets.pair_idx[:, 1]
    first = int((torch.unique(o_idx) == o_idx[0]).nonzero()[0])
    torch.testing.assert_close(plain["crop_embed"][0], own[first])


def test_hoiclip_with_vild_trains_and_retargets_to_a_new_object(
        tiny_synthetic, tmp_path, synthetic_space, tiny_cfg, make_batch, make_targets):
    torch.manual_seed(0)
    probe = build_model(_vild_cfg(tiny_cfg, image_weight=0.5), synthetic_space)
    (path, _), _ = _crop_cache(tiny_synthetic, probe.clip, tmp_path, 1.5, synthetic_space)
    cfg = _vild_cfg(tiny_cfg, image_weight=0.5, crop_embeddings=str(path),
                    novel_objects=["cup"])
    torch.manual_seed(0)
    model = build_model(cfg, synthetic_space)
    head = model.detector.obj_classifier
    assert head.novel.tolist() == [o == "cup" for o in synthetic_space.objects]
    criterion = build_criterion(cfg, synthetic_space)
    dataset = build_dataset(DataConfig(dataset="synthetic", root=str(tiny_synthetic)), "train",
                            synthetic_space, transforms=None)
    _, targets = dataset.load(0)
    h, w = targets.size
    out = model(make_batch([(h, w)]))
    losses = criterion(out, [targets], 1.0)
    assert losses["loss_vild_image"] > 0 and "loss_vild_image_0" in losses
    sum(losses.values()).backward()
    assert head.image_proj.weight.grad.abs().sum() > 0
    preds = build_postprocess(cfg, synthetic_space)(out, torch.tensor([[h, w]]), ["x"])
    assert len(preds[0].scores) > 0

    from openhoi.open_vocab import open_vocab_label_space

    new = open_vocab_label_space(["hold cup", "hold mug", "kick sports ball"], synthetic_space)
    old_rows = {o: head.text_embeds[i].clone() for i, o in enumerate(synthetic_space.objects)}
    model.eval()
    model.retarget(new, synthetic_space)
    assert head.text_embeds.shape[0] == new.num_objects
    for i, o in enumerate(new.objects):
        if o in old_rows:
            torch.testing.assert_close(head.text_embeds[i], old_rows[o])
    mug = new.objects.index("mug")
    assert head.novel[mug] and not head.novel[new.objects.index("sports ball")]
    assert head.novel[new.objects.index("cup")]  # novel in training stays novel
    assert math.isclose(float(head.text_embeds[mug].norm()), 1.0, rel_tol=1e-5)
    out = model(make_batch([(h, w)]))
    assert out.obj_logits.shape[-1] == new.num_objects + 1
    assert out.extras[OBJ_LOG_PROBS].shape[-1] == new.num_objects + 1


def test_checkpoint_round_trip_restores_the_class_rows(synthetic_space, tiny_cfg, make_batch):
    torch.manual_seed(0)
    cfg = _vild_cfg(tiny_cfg)
    model = build_model(cfg, synthetic_space).eval()
    blank = build_model(cfg, synthetic_space, pretrained=False).eval()
    assert blank.detector.obj_classifier.text_embeds.abs().sum() == 0
    blank.load_state_dict(model.state_dict())
    batch = make_batch([(48, 64)])
    torch.testing.assert_close(blank(batch).obj_logits, model(batch).obj_logits)


def test_minilm_rows_are_close_for_related_names(synthetic_space, tiny_cfg):
    cfg = _vild_cfg(tiny_cfg, text_encoder="minilm")
    head = build_model(cfg, synthetic_space).detector.obj_classifier
    assert head.text_embeds.shape == (synthetic_space.num_objects, 384)
    from openhoi.models.clip.vild import vild_class_embeddings

    cup, mug, chair = vild_class_embeddings("minilm", cfg.vild.templates,
                                            ["cup", "mug", "chair"], None)
    assert cup @ mug > cup @ chair + 0.1


def test_cli_vild_crops_writes_then_reuses(tmp_path, capsys):
    from openhoi.cli import main

    data = tmp_path / "sem"
    generate_synthetic(data, 8, seed=1, semantic=True)
    args = ["vild-crops", "--config", "synthetic_semantic_vild_image", "--set",
            f"data.root={data}", "--set", "data.zero_shot=uo", "--cache-dir",
            str(tmp_path / "crops")]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("wrote ") and "--set model.vild.crop_embeddings=" in first
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("reused ")
    assert main(["vild-crops", "--config", "synthetic_semantic_tiny", "--set",
                 f"data.root={data}", "--cache-dir", str(tmp_path / "c")]) == 2
    assert "not 'vild'" in capsys.readouterr().err
