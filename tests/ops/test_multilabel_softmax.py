import torch
import torch.nn.functional as F

from openhoi.ops.losses import multilabel_softmax_loss


def test_one_label_is_clip_adapters_cross_entropy():
    logits = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    label = torch.tensor([0, 3, 6, 2, 2])
    targets = -torch.ones(5, 7)
    targets[torch.arange(5), label] = 1
    assert torch.allclose(multilabel_softmax_loss(logits, targets),
                          F.cross_entropy(logits, label))


def test_several_labels_ignored_classes_and_images_without_positives():
    logits = torch.tensor([[2.0, 1.0, 0.0, 5.0], [1.0, 1.0, 1.0, 1.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 1.0, -1.0, 0.0],  # class 3 ambiguous: out of the softmax
                            [-1.0, -1.0, -1.0, -1.0]])  # no positive: no term
    loss = multilabel_softmax_loss(logits, targets)
    log_p = torch.tensor([2.0, 1.0, 0.0]).log_softmax(0)
    assert torch.allclose(loss, -(log_p[0] + log_p[1]) / 2)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[0, 3] == 0 and logits.grad[1].abs().sum() == 0


def test_shift_invariant_unlike_a_margin_at_zero():
    logits = torch.randn(3, 6, generator=torch.Generator().manual_seed(1))
    targets = torch.tensor([[1.0, -1, -1, 1, -1, -1]] * 3)
    assert torch.allclose(multilabel_softmax_loss(logits, targets),
                          multilabel_softmax_loss(logits + 25.0, targets), atol=1e-5)


def test_no_positive_anywhere_gives_zero_with_a_graph():
    logits = torch.randn(2, 3, requires_grad=True)
    loss = multilabel_softmax_loss(logits, -torch.ones(2, 3))
    assert loss.item() == 0.0 and loss.requires_grad
