import pytest
import torch
from torch import nn

from openhoi.models.detr.transformer import (
    DecoderLayer,
    EncoderLayer,
    TransformerDecoder,
    TransformerEncoder,
)


def _copy_into_torch_layer(ours: nn.Module, theirs: nn.Module) -> None:
    state = {k.replace("cross_attn.", "multihead_attn."): v for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state)


@pytest.mark.parametrize("pre_norm", [False, True])
def test_encoder_layer_equals_torch_layer_without_positions(pre_norm):
    torch.manual_seed(0)
    ours = EncoderLayer(16, 2, 32, dropout=0.0, normalize_before=pre_norm).eval()
    ref = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True,
                                     norm_first=pre_norm).eval()
    _copy_into_torch_layer(ours, ref)
    x = torch.randn(2, 7, 16)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 5:] = True
    assert torch.allclose(ours(x, pad), ref(x, src_key_padding_mask=pad), atol=1e-5)


@pytest.mark.parametrize("pre_norm", [False, True])
def test_decoder_layer_equals_torch_layer_without_positions(pre_norm):
    torch.manual_seed(0)
    ours = DecoderLayer(16, 2, 32, dropout=0.0, normalize_before=pre_norm).eval()
    ref = nn.TransformerDecoderLayer(16, 2, 32, dropout=0.0, batch_first=True,
                                     norm_first=pre_norm).eval()
    _copy_into_torch_layer(ours, ref)
    tgt, mem = torch.randn(2, 4, 16), torch.randn(2, 9, 16)
    pad = torch.zeros(2, 9, dtype=torch.bool)
    pad[0, 6:] = True
    assert torch.allclose(ours(tgt, mem, pad), ref(tgt, mem, memory_key_padding_mask=pad),
                          atol=1e-5)


def test_positions_enter_queries_and_keys_but_not_values():
    """DETR: ``q = k = x + pos``, ``v = x`` for self-attention; memory keys get ``pos``."""
    torch.manual_seed(0)
    layer = DecoderLayer(8, 1, 16, dropout=0.0).eval()
    tgt, mem = torch.randn(1, 3, 8), torch.randn(1, 5, 8)
    qpos, pos = torch.randn(1, 3, 8), torch.randn(1, 5, 8)
    x = layer.self_attn(tgt + qpos, tgt + qpos, tgt)[0]
    x = layer.norm1(tgt + x)
    y = layer.cross_attn(x + qpos, mem + pos, mem)[0]
    y = layer.norm2(x + y)
    expected = layer.norm3(y + layer.linear2(torch.relu(layer.linear1(y))))
    assert torch.allclose(layer(tgt, mem, None, pos, qpos), expected, atol=1e-6)


def test_decoder_returns_every_layer_through_final_norm_and_per_layer_query_pos():
    torch.manual_seed(0)
    dec = TransformerDecoder(3, 8, 2, 16, dropout=0.0).eval()
    tgt, mem = torch.zeros(2, 4, 8), torch.randn(2, 6, 8)
    qpos = torch.randn(3, 2, 4, 8)  # one query_pos per layer
    out = dec(tgt, mem, None, None, qpos)
    assert out.shape == (3, 2, 4, 8)
    x = tgt
    for i, layer in enumerate(dec.layers):
        x = layer(x, mem, None, None, qpos[i])  # un-normed output feeds the next layer
        assert torch.allclose(out[i], dec.norm(x), atol=1e-6)


def test_encoder_post_norm_has_no_final_norm_and_matrices_are_xavier():
    enc = TransformerEncoder(2, 8, 2, 16)
    assert enc.norm is None and TransformerEncoder(1, 8, 2, 16, normalize_before=True).norm
    w = enc.layers[0].linear1.weight
    bound = (6 / (w.shape[0] + w.shape[1])) ** 0.5
    assert w.abs().max() <= bound
    assert torch.equal(enc.layers[0].norm1.weight, torch.ones(8))


def test_training_path_draws_the_cheap_masks_and_computes_the_eval_result(monkeypatch):
    """In CPU training every dropout of the layers (attention weights included) draws
    ``openhoi.ops.dropout`` masks; with nothing dropped the result is torch's eval layer's."""
    import openhoi.ops.dropout as dropout_mod

    shapes = []
    real = dropout_mod.scaled_keep_mask

    def spy(shape, p, *args, **kwargs):
        shapes.append(tuple(shape))
        return real(shape, p, *args, **kwargs)

    monkeypatch.setattr(dropout_mod, "scaled_keep_mask", spy)
    torch.manual_seed(0)
    enc = EncoderLayer(16, 2, 32, dropout=1e-9).train()  # p > 0: the training path, all kept
    dec = DecoderLayer(16, 2, 32, dropout=1e-9).train()
    ref_enc = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True).eval()
    ref_dec = nn.TransformerDecoderLayer(16, 2, 32, dropout=0.0, batch_first=True).eval()
    _copy_into_torch_layer(enc, ref_enc)
    _copy_into_torch_layer(dec, ref_dec)
    x, tgt = torch.randn(2, 7, 16), torch.randn(2, 4, 16)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 5:] = True
    torch.testing.assert_close(enc(x, pad), ref_enc(x, src_key_padding_mask=pad))
    assert sorted(shapes) == sorted([(4, 7, 7), (2, 7, 32), (2, 7, 16), (2, 7, 16)])
    shapes.clear()
    torch.testing.assert_close(dec(tgt, x, pad), ref_dec(tgt, x, memory_key_padding_mask=pad))
    assert sorted(shapes) == sorted([(4, 4, 4), (4, 4, 7), (2, 4, 32), (2, 4, 16),
                                     (2, 4, 16), (2, 4, 16)])
