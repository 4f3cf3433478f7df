import math

import torch

from openhoi.models.detr.heads import MLP, TextObjectClassifier


def test_mlp_layers_and_relu():
    mlp = MLP(4, 8, 2, 3)
    assert [tuple(lin.weight.shape) for lin in mlp.layers] == [(8, 4), (8, 8), (2, 8)]
    with torch.no_grad():
        for layer in mlp.layers:
            layer.weight.fill_(1.0)
            layer.bias.zero_()
    x = torch.tensor([[-1.0, -1.0, -1.0, -1.0]])  # relu kills the negative hidden units
    assert torch.equal(mlp(x), torch.zeros(1, 2))


def test_text_classifier_is_scaled_cosine_similarity_to_text_rows():
    text = torch.tensor([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0]])  # 2 objects + no-object
    head = TextObjectClassifier(in_dim=2, text_embeds=text, bias=False)
    assert torch.allclose(head.classifier.weight.norm(dim=-1), torch.ones(3))
    assert torch.allclose(head.logit_scale.exp(), torch.tensor(1 / 0.07))
    with torch.no_grad():  # make proj + LayerNorm the identity on these inputs
        head.proj.weight.copy_(torch.eye(2))
        head.proj.bias.zero_()
    x = torch.tensor([[5.0, -5.0]])  # LayerNorm -> (1, -1) -> normalised (1, -1) / sqrt 2
    expected = (1 / 0.07) * torch.tensor([[1 / math.sqrt(2), -1 / math.sqrt(2), 0.0]])
    assert torch.allclose(head(x), expected, atol=1e-4)


def test_text_classifier_bias_is_scaled_too():
    head = TextObjectClassifier(2, torch.eye(2), bias=True, logit_scale_init=math.log(2.0))
    with torch.no_grad():
        head.classifier.weight.zero_()
        head.classifier.bias.copy_(torch.tensor([1.0, -3.0]))
    assert torch.allclose(head(torch.randn(4, 2)), torch.tensor([[2.0, -6.0]]).expand(4, 2))
