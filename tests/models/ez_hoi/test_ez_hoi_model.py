"""EZ-HOI model: prompts reach both towers, adapters start as identities, only prompts and
adapters learn while the frozen towers stay bit-identical, losses, scoring, checkpoints."""

from __future__ import annotations

import pytest
import torch
from ez_helpers import batch, targets, tiny_config

from openhoi.label_space import load_label_space
from openhoi.models.ez_hoi.adapters import InstanceAdapter, PromptAdapter
from openhoi.models.ez_hoi.build import build_criterion, build_model, select_classes
from openhoi.models.ez_hoi.criterion import binary_focal_loss_with_logits, similarity_kl
from openhoi.models.ez_hoi.postprocess import EZHOIPostProcess


@pytest.fixture(scope="module")
def space():
    return load_label_space("synthetic")


def _model(ez_files, space, **kw):
    torch.manual_seed(0)
    return build_model(tiny_config(*ez_files, **kw), space)


def test_adapters_start_as_identity():
    a = PromptAdapter(16, 8, dim=4)
    x = torch.randn(3, 2, 16)
    assert torch.equal(a(x, torch.randn(3, 5, 8)), x)
    s = PromptAdapter(16, None, dim=4, self_attention=True)
    assert torch.equal(s(x), x)
    i = InstanceAdapter(16, dim=4)
    assert i(x, torch.randn(3, 5, 4), torch.zeros(3, 5, dtype=torch.bool)).abs().max() == 0


def test_forward_shapes_and_scores(ez_files, space):
    m = _model(ez_files, space).eval()
    with torch.no_grad():
        raw = m(batch())
    # image a: 2 humans (one topped up below the threshold) x 3 other instances; b: no pair
    assert raw.extras["pair_mask"].sum(1).tolist() == [6, 0]
    assert raw.interaction_logits.shape == (2, 6, space.num_interactions)
    preds = EZHOIPostProcess(space, 2.8)(raw, torch.tensor([[128, 160], [120, 140]]), ["a", "b"])
    assert len(preds[1]) == 0
    p = preds[0]
    # every (pair, verb valid for its object); boxes back in pixels of the image on disk
    obj = raw.extras["pair_objects"][0][:6]
    assert len(p) == int((space.interaction_table[:, obj] >= 0).sum())
    assert p.boxes_xyxy[p.pair_idx[:, 0]].max() <= 160
    assert {tuple(b) for b in p.boxes_xyxy.round().tolist()} >= {(0, 0, 60, 120)}
    s = raw.extras["instance_scores"][0, p.pair_idx[:, 0]].prod(-1) ** 2.8
    assert torch.all(p.scores <= s + 1e-6)


def test_text_prompts_reach_text_features(ez_files, space):
    m = _model(ez_files, space)
    before = m.text_features().detach().clone()
    with torch.no_grad():
        m.prompts.text_prompts[1].add_(torch.randn(2, 32))  # a deep (layer 1) prompt
    assert not torch.allclose(m.text_features(), before)
    tail = _model(ez_files, space, prompts={"text_position": "released_tail"})
    before = tail.text_features().detach().clone()
    with torch.no_grad():
        tail.prompts.text_prompts.add_(torch.randn(2, 2, 32))
    # EZ-HOI's placement: after the end-of-text token, invisible to the feature
    assert torch.equal(tail.text_features(), before)


def test_visual_prompts_change_image_features(ez_files, space):
    m = _model(ez_files, space).eval()
    b = batch()
    with torch.no_grad():
        a = m(b).verb_logits
        m.prompts.to_visual[1].bias.add_(torch.randn(48))  # not constant: LN ignores shifts
        assert not torch.allclose(m(b).verb_logits, a)


def test_only_prompts_and_adapters_learn(ez_files, space):
    m = _model(ez_files, space, zero_shot="rf_uc")
    m.train()
    frozen = {k: v.clone() for k, v in m.clip.state_dict().items()}
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable and all(not n.startswith("clip.") for n in trainable)
    assert all(n.split(".")[0] in {"prompts", "image_tower", "instance_proj", "vis_fuse",
                                   "pair_adapter", "logit_scale"} for n in trainable)
    crit = build_criterion(tiny_config(*ez_files), space,
                           torch.tensor(space.seen_interactions("rf_uc")))
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        # a person holding a cup: the unseen 'drink_with cup' joins the semantic term (UTPL)
        terms = crit(m(batch()), targets(space.num_verbs, obj=3), 1.0)
        opt.zero_grad()
        sum(terms.values()).backward()
        assert all(p.grad is None for n, p in m.named_parameters() if not p.requires_grad)
        opt.step()
    assert all(torch.equal(v, m.clip.state_dict()[k]) for k, v in frozen.items())
    got_grad = {n for n, p in m.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert {"prompts.text_prompts", "prompts.text_adapter.up.weight",
            "prompts.unseen_adapter.up.weight", "image_tower.adapters.0.up.weight",
            "vis_fuse.0.weight"} <= got_grad
    assert not hasattr(m.image_tower, "proj")  # CLIP's visual head is frozen, as in EZ-HOI


def test_focal_loss_matches_formula():
    x, y = torch.tensor([0.3, -1.0]), torch.tensor([1.0, 0.0])
    p = torch.sigmoid(x)
    manual = (0.5 * (1 - p[0] + 1e-6) ** 0.2 * -torch.log(p[0])
              + 0.5 * (p[1] + 1e-6) ** 0.2 * -torch.log(1 - p[1]))
    assert binary_focal_loss_with_logits(x, y, 0.5, 0.2) == pytest.approx(manual.item(), rel=1e-5)


def test_similarity_kl():
    a = torch.randn(4, 8)
    assert similarity_kl(a, a, 0.1) == pytest.approx(0.0, abs=1e-6)
    b = torch.randn(4, 8)
    sa, sb = torch.nn.functional.normalize(a, dim=1), torch.nn.functional.normalize(b, dim=1)
    pa, pb = (sa @ sa.T / 0.1).softmax(1), (sb @ sb.T / 0.1).softmax(1)
    manual = (pb * (pb.log() - pa.log())).sum() / 16  # KL(frozen || learned), EZ-HOI kl_loss
    assert similarity_kl(a, b, 0.1) == pytest.approx(manual.item(), rel=1e-4)


def test_interaction_loss_zero_shot_prior_and_positives(ez_files, space):
    m = _model(ez_files, space).eval()
    raw = m(batch())
    seen = torch.tensor(space.seen_interactions("rf_uc"))
    crit = build_criterion(tiny_config(*ez_files), space, seen)
    loss = crit.interaction_loss(raw, targets(space.num_verbs))
    # recompute by hand: image a's pairs, verbs valid and seen for the pair's object
    mask = raw.extras["pair_mask"][0]
    obj = raw.extras["pair_objects"][0][mask]
    table = space.interaction_table[:, obj].T  # [P, V]
    allowed = (table >= 0) & torch.isin(table, seen)
    s = raw.extras["instance_scores"][0][mask].prod(-1, keepdim=True)
    prior = allowed * s
    x = raw.verb_logits[0][mask]
    y = torch.zeros_like(x)
    # instances: human 0.9, human 0.1 (topped up), ball, cup; pair 1 = (human 0.9, ball)
    assert obj.tolist() == [0, 1, 3, 0, 1, 3]
    y[1, 0] = 1  # it overlaps the ground-truth pair exactly: verb hold
    k = prior > 0
    z = torch.log(prior[k] / (1 + torch.exp(-x[k]) - prior[k]) + 1e-8)
    assert loss.item() == pytest.approx(binary_focal_loss_with_logits(z, y[k], 0.5, 0.2).item(),
                                        rel=1e-5)


def test_semantic_loss_groups(ez_files, space):
    m = _model(ez_files, space).eval()
    raw = m(batch())
    crit = build_criterion(tiny_config(*ez_files), space)
    raw.extras["class_descriptions"] = raw.extras["text_features"].detach()
    assert crit.semantic_loss(raw, targets(space.num_verbs)).item() == pytest.approx(0, abs=1e-6)


def test_select_classes_two_most_different_per_verb():
    desc = torch.nn.functional.normalize(torch.tensor(
        [[1.0, 0, 0], [0.9, 0.1, 0], [0, 1.0, 0], [0, 0, 1.0]]), dim=1)
    verbs = torch.tensor([0, 0, 0, 1])
    # verb 0 has three classes: 0 and 2 are orthogonal (least similar); verb 1 keeps its one
    assert select_classes(desc, verbs, 2) == [0, 2, 3]


def test_utpl_adds_seen_partner_and_changes_only_unseen(ez_files, space):
    m = _model(ez_files, space, zero_shot="rf_uc")
    u = m.unseen_priors()
    unseen = set(space.zero_shot_split("rf_uc").unseen_interactions)
    assert set(m.class_index[u.unseen_rows].tolist()) == unseen  # both prompted (one per verb)
    assert not set(m.class_index[u.seen_rows].tolist()) & unseen
    desc = m.descriptions[m.class_index]
    with torch.no_grad():
        torch.nn.init.normal_(m.prompts.unseen_adapter.up.weight)
        plain, with_u = m.prompts.text(desc, None), m.prompts.text(desc, u)
    changed = (plain[0] != with_u[0]).any(-1).any(-1).nonzero().squeeze(1)
    assert changed.tolist() == sorted(u.unseen_rows.tolist())


def test_checkpoint_round_trip(ez_files, space, tmp_path):
    from openhoi import checkpoint as ckpt_io
    from openhoi.config import Config, DataConfig, TrainConfig
    from openhoi.models.build import load_model

    cfg = Config(data=DataConfig(dataset="synthetic"),
                 model=tiny_config(*ez_files, zero_shot="rf_uc"), train=TrainConfig())
    m = _model(ez_files, space, zero_shot="rf_uc").eval()
    path = tmp_path / "m.safetensors"
    ckpt_io.save_safetensors(path, m, cfg, space)
    loaded = load_model(path)
    with torch.no_grad():
        a, b = m(batch()), loaded.model(batch())
    assert torch.equal(loaded.model.class_index, m.class_index)
    assert torch.allclose(a.verb_logits, b.verb_logits)


def test_detr_instances_through_upt_filtering(ez_files, space):
    """Source ``detr``: DETR's last-layer output, post-processed, gives the instances."""
    from openhoi.config import DetectorConfig
    from openhoi.models.detr.plain_detr import PlainDETROutput, build_plain_detr

    m = _model(ez_files, space)
    q = 5
    logits = torch.full((1, 2, q, space.num_objects + 1), -9.0)
    logits[..., 0, 0] = logits[..., 1, 0] = 9.0  # two confident persons
    logits[..., 2, 3] = 9.0  # a cup
    logits[..., 3:, -1] = 9.0  # no-object
    boxes = torch.tensor([[0.2, 0.3, 0.2, 0.4], [0.7, 0.5, 0.2, 0.5], [0.5, 0.5, 0.1, 0.1],
                          [0.1, 0.1, 0.1, 0.1], [0.9, 0.9, 0.1, 0.1]]).expand(1, 2, q, 4)
    cfg = DetectorConfig(backbone="resnet18", hidden_dim=8, num_heads=2, dim_feedforward=8,
                         num_encoder_layers=1, num_decoder_layers=1, num_queries=q)
    detr = build_plain_detr(cfg, space.num_objects, space.object_ids)  # head in our order
    detr.forward = lambda batch: PlainDETROutput(logits, boxes)
    m.detector = detr
    insts = m.instances(batch())
    # 2 persons and the cup pass 0.2; the no-object queries' best class is person (all -9),
    # so humans are topped up to min_instances = 3 with one of them; humans first
    assert insts[0].labels.tolist() == [0, 0, 0, 3]
    assert insts[0].scores[:2].min() > 0.99 and insts[0].scores[2] < 0.01
    assert insts[0].boxes_xyxy[0].tolist() == pytest.approx([0.1 * 80, 0.1 * 64, 0.3 * 80,
                                                             0.5 * 64])


def test_detr_source_loads_detr_checkpoint(ez_files, space, tmp_path):
    """``source: detr`` with a checkpoint in DETR's layout: EZ-HOI's instances are that DETR's
    detections through UPT's filtering; a checkpoint of another shape is refused, naming the
    key and both shapes."""
    import dataclasses

    from detr_layout import HEADS, detr_state

    from openhoi.data.detections import region_proposals
    from openhoi.errors import CheckpointError
    from openhoi.models.detr.plain_detr import detr_from_checkpoint, infer_detr_config

    state = detr_state(91)
    path = tmp_path / "detr.pth"
    torch.save({"model": state}, path)
    detector = dataclasses.replace(infer_detr_config(state), num_heads=HEADS)
    cfg = tiny_config(*ez_files)
    instances = dataclasses.replace(cfg.instances, source="detr", detr_weights=str(path),
                                    detr_classes=91, detector=detector)
    torch.manual_seed(0)
    m = build_model(dataclasses.replace(cfg, instances=instances), space)
    b = batch()
    ref = detr_from_checkpoint(path, space.object_ids, num_heads=HEADS).detect(b)
    f = m.filt
    for got, want in zip(m.instances(b), ref):
        want = region_proposals(want, f.human_label, f.nms_iou, f.score_thresh,
                                f.min_instances, f.max_instances)
        assert torch.equal(got.labels, want.labels)
        assert torch.allclose(got.boxes_xyxy, want.boxes_xyxy)
    wrong = dataclasses.replace(instances, detr_classes=80)
    with pytest.raises(CheckpointError, match=r"class_embed.weight has shape \(92, 32\)"):
        build_model(dataclasses.replace(cfg, instances=wrong), space)
