import torch

from openhoi.models.hoiclip.query_builder import (
    MeanQueryBuilder,
    MixQueryBuilder,
    build_query_builder,
)


def test_mean_builder_is_eq4_by_hand():
    torch.manual_seed(0)
    qb = MeanQueryBuilder(4, 6)
    h, o = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    x = (h + o) / 2 @ qb.proj.weight.t() + qb.proj.bias
    mu, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    expected = (x - mu) / torch.sqrt(var + qb.norm.eps) * qb.norm.weight + qb.norm.bias
    torch.testing.assert_close(qb(h, o), expected)
    torch.testing.assert_close(qb(h, o), qb(o, h))  # symmetric in human and object


def test_mix_builder_starts_as_mean_builder():
    torch.manual_seed(0)
    mean, mix = MeanQueryBuilder(8, 16), MixQueryBuilder(8, 16)
    mix.proj.load_state_dict(mean.proj.state_dict())
    h, o = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    # identity mix: LN(W o + b + W h + b) = LN(2 (W mean + b)) = LN(W mean + b) up to LN's eps
    torch.testing.assert_close(mix(h, o), mean(h, o), atol=1e-4, rtol=1e-4)


def test_mix_builder_rows_select_inputs():
    torch.manual_seed(0)
    mix = MixQueryBuilder(8, 16)
    with torch.no_grad():
        mix.mix.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))  # both rows take O_o only
    h, o = torch.randn(1, 4, 8), torch.randn(1, 4, 8)
    torch.testing.assert_close(mix(h, o), mix(torch.randn(1, 4, 8), o))
    assert not torch.allclose(mix(h, o), mix(h, torch.randn(1, 4, 8)))


def test_builder_table():
    assert isinstance(build_query_builder("mean", 4, 8), MeanQueryBuilder)
    assert isinstance(build_query_builder("mix", 4, 8), MixQueryBuilder)
