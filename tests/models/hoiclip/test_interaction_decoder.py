import torch
from torch.nn import functional as F

from openhoi.models.hoiclip.interaction_decoder import (
    DetectorMemoryProjection,
    InteractionDecoder,
    KnowledgeIntegrationLayer,
)

W, HEADS, FF = 16, 2, 32


def _mha_seq_first(attn, q, k, v, mask=None):
    # the reference's call: nn.MultiheadAttention on [L, B, E] tensors, via its functional form
    return F.multi_head_attention_forward(
        q, k, v, W, HEADS, attn.in_proj_weight, attn.in_proj_bias, None, None, False, 0.0,
        attn.out_proj.weight, attn.out_proj.bias, training=False, key_padding_mask=mask,
        need_weights=False)[0]


def _reference_fusion_layer(layer, tgt, memory, sup_memory):
    """HOICLIP TransformerDecoderFusionLayer.forward_post, seq-first, shared attn + norm2."""
    tgt = layer.norm_self(tgt + _mha_seq_first(layer.self_attn, tgt, tgt, tgt))
    tgt2 = layer.norm_clip(tgt + _mha_seq_first(layer.clip_attn, tgt, memory, memory))
    tgt3 = layer.norm_clip(tgt + _mha_seq_first(layer.clip_attn, tgt, sup_memory, sup_memory))
    tgt = tgt2 + tgt3
    tgt2 = layer.linear2(F.relu(layer.linear1(tgt)))
    return layer.norm_ffn(tgt + tgt2)


def _inputs(b=2, q=5, n=7, s=9):
    return torch.randn(b, q, W), torch.randn(b, n, W), torch.randn(b, s, W)


def test_shared_decoder_matches_reference_computation():
    torch.manual_seed(0)
    dec = InteractionDecoder(W, 2, HEADS, FF, dropout=0.1, shared_cross_attention=True).eval()
    query, clip_tokens, det = _inputs()
    out = dec(query, clip_tokens, det)
    assert out.shape == (2, 2, 5, W)
    # reference: TransformerDecoderCLIP with return_intermediate, seq-first layout
    x, mem, sup = query.transpose(0, 1), clip_tokens.transpose(0, 1), det.transpose(0, 1)
    expected = []
    for layer in dec.layers:
        x = _reference_fusion_layer(layer, x, mem, sup)
        expected.append(dec.norm(x).transpose(0, 1))
    torch.testing.assert_close(out, torch.stack(expected), atol=1e-5, rtol=1e-5)


def test_shared_has_no_own_cross_attention_weights():
    shared = KnowledgeIntegrationLayer(W, HEADS, FF, shared=True)
    separate = KnowledgeIntegrationLayer(W, HEADS, FF, shared=False)
    assert not any(k.startswith(("det_attn", "norm_det")) for k in shared.state_dict())
    assert any(k.startswith("det_attn") for k in separate.state_dict())
    n_shared = sum(p.numel() for p in shared.parameters())
    n_sep = sum(p.numel() for p in separate.parameters())
    assert n_sep - n_shared == 4 * W * W + 4 * W + 2 * W  # one MHA + one LayerNorm


def test_separate_cross_attentions_both_matter():
    torch.manual_seed(0)
    layer = KnowledgeIntegrationLayer(W, HEADS, FF, dropout=0.0, shared=False).eval()
    query, clip_tokens, det = _inputs()
    base = layer(query, clip_tokens, det)
    assert not torch.allclose(base, layer(query, clip_tokens, torch.randn_like(det)))
    assert not torch.allclose(base, layer(query, torch.randn_like(clip_tokens), det))
    with torch.no_grad():
        layer.det_attn.out_proj.weight.mul_(2.0)
    assert not torch.allclose(base, layer(query, clip_tokens, det))


def test_padding_mask_hides_padded_memory():
    torch.manual_seed(0)
    layer = KnowledgeIntegrationLayer(W, HEADS, FF, dropout=0.0).eval()
    query, clip_tokens, det = _inputs(b=1, s=6)
    mask = torch.tensor([[False, False, False, False, True, True]])
    changed = det.clone()
    changed[:, 4:] = torch.randn(1, 2, W) * 10
    torch.testing.assert_close(layer(query, clip_tokens, det, mask),
                               layer(query, clip_tokens, changed, mask))
    # without the mask (the reference) padding leaks into the output
    assert not torch.allclose(layer(query, clip_tokens, det), layer(query, clip_tokens, changed))


def test_memory_projection_shape():
    proj = DetectorMemoryProjection(8, W)
    out = proj(torch.randn(2, 10, 8))
    assert out.shape == (2, 10, W)
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 10) + proj.norm.bias.mean(),
                               atol=1e-5, rtol=0)
