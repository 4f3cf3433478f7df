"""A converted checkpoint loads back through the engine's loader (config + label space +
weights, no model flags) and gives exactly the converted model's outputs."""

import pytest
import torch
from reference_layouts import hoiclip_layout, hoiclip_verb2hoi, random_state, release

from openhoi import checkpoint as ckpt_io
from openhoi.data.dataset import resolve_label_space
from openhoi.models.build import load_model
from openhoi.models.convert import convert_checkpoint, save_converted


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from openhoi.label_space import load_label_space

    space = load_label_space("vcoco")
    state = random_state(hoiclip_layout(space.num_interactions, space.num_objects + 2,
                                        space.num_verbs, hico=False), seed=7)
    state["verb2hoi_proj"] = hoiclip_verb2hoi(space)
    path = tmp_path_factory.mktemp("roundtrip") / "hoiclip_vcoco.pth"
    torch.save(release(state, dataset_file="vcoco", nheads=2, verb_weight=0.1), path)
    return convert_checkpoint(path, "hoiclip")


def _outputs(model, batch, postprocessor):
    with torch.no_grad():
        raw = model(batch)
    preds = postprocessor(raw, batch.sizes, ["a.jpg", "b.jpg"])
    return raw, preds


def test_checkpoint_round_trip(converted, tmp_path, make_batch):
    out = save_converted(converted, tmp_path / "converted.pt")
    checkpoint = ckpt_io.load_checkpoint(out)
    assert checkpoint["extra"]["converted_from"]["source"] == "hoiclip"
    config = ckpt_io.checkpoint_config(checkpoint)
    assert config == converted.config
    space = resolve_label_space(config.data)
    assert space.fingerprint == checkpoint["label_space"] == converted.label_space.fingerprint
    loaded = load_model(checkpoint)
    model, postprocessor = loaded.model, loaded.parts.postprocess
    batch = make_batch([(64, 80), (48, 64)])
    raw_a, preds_a = _outputs(converted.model, batch, postprocessor)
    raw_b, preds_b = _outputs(model, batch, postprocessor)
    for name in ("interaction_logits", "obj_logits", "h_boxes_cxcywh", "o_boxes_cxcywh",
                 "verb_logits"):
        assert torch.equal(getattr(raw_a, name), getattr(raw_b, name)), name
    assert torch.equal(raw_a.extras["zs_logits"], raw_b.extras["zs_logits"])
    for a, b in zip(preds_a, preds_b):
        assert torch.equal(a.scores, b.scores) and torch.equal(a.interactions, b.interactions)
        assert torch.equal(a.boxes_xyxy, b.boxes_xyxy)
    # the released verb->interaction matrix survives the round trip
    assert torch.equal(model.head.verb_adapter.verb_to_interaction,
                       converted.model.head.verb_adapter.verb_to_interaction)


def test_safetensors_round_trip(converted, tmp_path, make_batch):
    out = save_converted(converted, tmp_path / "converted.safetensors")
    weights = ckpt_io.load_safetensors(out)
    config = ckpt_io.checkpoint_config(weights)
    assert config == converted.config
    model = load_model(weights).model
    batch = make_batch([(56, 72)])
    with torch.no_grad():
        a, b = converted.model(batch), model.eval()(batch)
    assert torch.equal(a.interaction_logits, b.interaction_logits)
    assert torch.equal(a.obj_logits, b.obj_logits)
