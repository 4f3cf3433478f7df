import pytest
import torch

from engine_toys import ToyDataset, ToyEvaluator, ToyModel, collate, toy_postprocess
from openhoi.engine.evaluate import evaluate, evaluate_variants, scalar_results
from openhoi.engine.loaders import eval_loader
from openhoi.precision import outputs_to_float
from openhoi.structures import HOIRawOutput


def _constant(inter: int):
    """A post-processor that predicts interaction ``inter`` everywhere."""
    def post(out, sizes, ids):
        preds = toy_postprocess(out, sizes, ids)
        for p in preds:
            p.interactions = torch.full_like(p.interactions, inter)
        return preds
    return post


def test_variants_share_one_forward_pass_and_are_scored_separately():
    data = ToyDataset(10, seed=4)
    truth = data.interactions()
    model = ToyModel()
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    loader = eval_loader(data, 3, collate)
    results = evaluate_variants(model, {f"always{i}": _constant(i) for i in range(5)}, loader,
                                ToyEvaluator(truth), torch.device("cpu"))
    assert len(calls) == 4  # ceil(10 / 3) batches, not 4 x 5
    for i in range(5):  # hand count: images whose interaction is i
        expected = sum(v == i for v in truth.values()) / 10
        assert results[f"always{i}"]["accuracy"] == pytest.approx(expected)
    assert model.training  # the train/eval mode is restored
    single = evaluate(model, _constant(2), loader, ToyEvaluator(truth), torch.device("cpu"))
    assert single == results["always2"]


def test_rank0_needs_an_evaluator_and_numbers_are_extracted():
    with pytest.raises(ValueError, match="needs an evaluator"):
        evaluate(ToyModel(), toy_postprocess, eval_loader(ToyDataset(2), 2, collate), None,
                 torch.device("cpu"))
    res = {"mAP": 0.5, "mAP_rare": None, "per_class": [1, 2], "n": 3, "t": torch.tensor(0.25),
           "flag": True}
    assert scalar_results(res) == {"mAP": 0.5, "n": 3.0, "t": 0.25}


def test_outputs_are_cast_to_float32_recursively():
    half = torch.zeros(1, 2, 3, dtype=torch.bfloat16)
    out = HOIRawOutput(half, half[..., :2].repeat(1, 1, 2), half[..., :2].repeat(1, 1, 2), half,
                       aux=[HOIRawOutput(half, half, half, half)],
                       extras={"f": half, "i": torch.zeros(2, dtype=torch.long)})
    cast = outputs_to_float(out)
    assert cast.obj_logits.dtype == cast.aux[0].interaction_logits.dtype == torch.float32
    assert cast.extras["f"].dtype == torch.float32 and cast.extras["i"].dtype == torch.long


def test_hoi_detector_runs_as_its_inference_view_without_unread_clip_extras():
    """predict_loader runs an HOIDetector as ``inference_model``: predictions as the module's
    to float rounding; GEN-VLKT with a post-processor that reads no extras skips CLIP."""
    from openhoi.config import load_config
    from openhoi.label_space import load_label_space
    from openhoi.models.build import build_model, build_postprocess
    from openhoi.structures import HOITargets, ImageBatch

    cfg = load_config("synthetic_tiny_gen_vlkt").model
    space = load_label_space("synthetic")
    torch.manual_seed(0)
    e = 32  # openhoi-tiny CLIP's embedding size; random text embeddings (no text tower)
    model = build_model(cfg, space, interaction_text=torch.randn(space.num_interactions, e),
                               object_text=torch.randn(space.num_objects + 1, e))
    post = build_postprocess(cfg, space)
    assert not post.reads_extras  # the recipe has no zero-shot enhancement
    images = ImageBatch(torch.randn(1, 3, 64, 96), torch.zeros(1, 64, 96, dtype=torch.bool),
                        torch.tensor([[64, 96]]))
    targets = [HOITargets(boxes_xyxy=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long),
                          pair_idx=torch.zeros(0, 2, dtype=torch.long),
                          verbs=torch.zeros(0, space.num_verbs), image_id="a.jpg",
                          size=(64, 96), orig_size=(128, 192))]
    calls = []
    model.clip.register_forward_hook(lambda *a: calls.append(1))
    from openhoi.engine.evaluate import predict_loader

    got = predict_loader(model, {"": post}, [(images, targets)], torch.device("cpu"))[""][0]
    assert calls == [] and model.training  # CLIP skipped; the module's mode restored
    model.eval()
    with torch.no_grad():
        want = post(model(images), torch.tensor([[128, 192]]), ["a.jpg"])[0]
    torch.testing.assert_close(got.scores, want.scores, rtol=1e-5, atol=1e-5)
    assert torch.equal(got.interactions, want.interactions)
