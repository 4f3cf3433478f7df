import pytest
import torch
from engine_toys import ToyDataset, ToyEvaluator, ToyModel, collate, toy_postprocess

from openhoi.engine.evaluate import evaluate, evaluate_variants, outputs_to_float, scalar_results
from openhoi.engine.loaders import eval_loader
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
