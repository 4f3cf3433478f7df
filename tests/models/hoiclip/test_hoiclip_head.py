import torch
from torch.nn import functional as F

from openhoi.models.clip.text_classifier import CosineClassifier
from openhoi.models.hoiclip.head import HOICLIPHead
from openhoi.models.hoiclip.interaction_decoder import DetectorMemoryProjection, InteractionDecoder
from openhoi.models.hoiclip.query_builder import MeanQueryBuilder
from openhoi.models.hoiclip.verb_adapter import VerbAdapter

D, W, E, V, N_INTER = 8, 16, 12, 3, 5


def _head(mask_padding: bool, verb: bool = True) -> HOICLIPHead:
    torch.manual_seed(0)
    v2i = torch.tensor([[1.0, 0, 0, 1, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 1]])
    adapter = VerbAdapter(E, torch.randn(V, E), v2i) if verb else None
    classifier = CosineClassifier.from_embeddings(F.normalize(torch.randn(N_INTER, E), dim=-1),
                                                  bias=True, logit_scale=None)
    return HOICLIPHead(MeanQueryBuilder(D, W), DetectorMemoryProjection(D, W),
                       InteractionDecoder(W, 2, 2, 32, 0.0, shared_cross_attention=True),
                       classifier, adapter, verb_weight=0.5,
                       mask_detector_padding=mask_padding).eval()


def test_head_matches_reference_formula():
    """HOICLIP.forward with_clip_label: S = s * visual_projection(O / |O|) + alpha * s *
    verb_projection(MLP(O) / |MLP(O)|) @ verb2hoi, O = decoder(Q_inter) @ clip_proj."""
    head = _head(mask_padding=False)
    h, o = torch.randn(2, 4, D), torch.randn(2, 4, D)
    memory, tokens = torch.randn(2, 6, D), torch.randn(2, 7, W)
    mask = torch.zeros(2, 6, dtype=torch.bool)
    proj = torch.randn(W, E)
    out = head(h, o, memory, mask, tokens, proj)
    with torch.no_grad():
        q = head.query_builder.norm(head.query_builder.proj((h + o) / 2))
        sup = head.memory_proj.norm(head.memory_proj.proj(memory))
        feats = head.decoder(q, tokens, sup) @ proj  # [L, B, Q, E]
        s = head.logit_scale.exp()
        cls = head.classifier
        inter = s * (feats / feats.norm(dim=-1, keepdim=True) @ cls.weight.t() + cls.bias)
        verb_hs = head.verb_adapter.mlp(feats)
        verb = s * (verb_hs / verb_hs.norm(dim=-1, keepdim=True)
                    @ head.verb_adapter.verb_classifier.weight.t())
        expected = inter + 0.5 * verb @ head.verb_adapter.verb_to_interaction
    assert out.interaction_logits.shape == (2, 2, 4, N_INTER)
    torch.testing.assert_close(out.interaction_logits, expected)
    torch.testing.assert_close(out.features, feats)
    torch.testing.assert_close(out.verb_logits, verb)


def test_without_verb_adapter_logits_are_s_inter():
    head = _head(mask_padding=True, verb=False)
    h, o = torch.randn(1, 3, D), torch.randn(1, 3, D)
    out = head(h, o, torch.randn(1, 6, D), torch.zeros(1, 6, dtype=torch.bool),
               torch.randn(1, 7, W), torch.randn(W, E))
    assert out.verb_logits is None
    expected = head.logit_scale.exp() * head.classifier(out.features)
    torch.testing.assert_close(out.interaction_logits, expected)


def test_padding_mask_is_applied_only_when_configured():
    h, o = torch.randn(1, 3, D), torch.randn(1, 3, D)
    memory, tokens, proj = torch.randn(1, 6, D), torch.randn(1, 7, W), torch.randn(W, E)
    mask = torch.tensor([[False, False, False, False, True, True]])
    changed = memory.clone()
    changed[:, 4:] += 5.0
    masked, unmasked = _head(True), _head(False)
    torch.testing.assert_close(masked(h, o, memory, mask, tokens, proj).interaction_logits,
                               masked(h, o, changed, mask, tokens, proj).interaction_logits)
    assert not torch.allclose(unmasked(h, o, memory, mask, tokens, proj).interaction_logits,
                              unmasked(h, o, changed, mask, tokens, proj).interaction_logits)
