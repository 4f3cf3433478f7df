"""CLIP-Adapter (Gao et al., IJCV 2024): a residual bottleneck MLP on frozen CLIP features.

``f' = alpha * A(f) + (1 - alpha) * f`` with ``A = Linear(E, E/r) -> ReLU -> Linear(E/r, E) ->
ReLU``, no biases, ``r = 4`` (gaopengcuhk/CLIP-Adapter ``clip_adapter.py``: class ``Adapter``
and ``ratio = 0.2`` in ``CustomCLIP.forward``). CLIP stays frozen; only ``A`` trains.

Any family places adapters where its config says (``ClipAdapterConfig.where``):

* HOICLIP / GEN-VLKT (``DetectionModelConfig.adapter``): ``interaction`` (the interaction
  features in CLIP space, before the text classifier and the verb adapter) and ``global``
  (CLIP's image embedding V_g, before the zero-shot scorer and the mimic loss).
* A recognition head (DEFR) calls ``ClipAdapter`` on its CLIP image feature before its cosine
  classifier (``image``) and/or on its class text embeddings (``text``), built with
  ``build_adapters(cfg, dims)``.
* The two-stage family (EZ-HOI, ``EZHOIConfig.adapter``): ``pair`` on each human-object pair's
  feature right before it is scored against the class text features, ``text`` on those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from openhoi.config import ClipAdapterConfig
from openhoi.errors import ConfigError


class ClipAdapter(nn.Module):
    """``f' = alpha * A(f) + (1 - alpha) * f`` on ``[..., E]`` features.

    Args:
        dim: feature width ``E``.
        alpha: residual ratio (the reference's ``ratio``, 0.2 for images).
        reduction: bottleneck width is ``dim // reduction`` (the reference's 4).
    """

    def __init__(self, dim: int, alpha: float = 0.2, reduction: int = 4) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        if dim // reduction < 1:
            raise ValueError(f"dim {dim} // reduction {reduction} leaves no hidden unit")
        self.alpha = alpha
        self.fc = nn.Sequential(
            nn.Linear(dim, dim // reduction, bias=False),
            nn.ReLU(),
            nn.Linear(dim // reduction, dim, bias=False),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``[..., E] -> [..., E]`` (dtype kept)."""
        adapted = self.fc(x.to(self.fc[0].weight.dtype)).to(x.dtype)
        return self.alpha * adapted + (1 - self.alpha) * x

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


def build_adapters(cfg: ClipAdapterConfig, dims: Mapping[str, int]) -> nn.ModuleDict:
    """One ``ClipAdapter`` per place of ``cfg.where``; ``dims`` gives each place's width.

    Raises:
        ConfigError: a place of ``cfg.where`` the caller does not offer (``dims`` keys).
    """
    unknown = [w for w in cfg.where if w not in dims]
    if unknown:
        raise ConfigError(f"model.adapter.where: {unknown} not available in this model "
                         f"(places: {sorted(dims)})")
    return nn.ModuleDict({w: ClipAdapter(dims[w], cfg.alpha, cfg.reduction) for w in cfg.where})


def apply_adapter(adapters: nn.ModuleDict | None, where: str, x: Tensor) -> Tensor:
    """``adapters[where](x)`` when that adapter exists, else ``x``."""
    if adapters is None or where not in adapters:
        return x
    return adapters[where](x)


CLIP_LOGIT_SCALE = 100.0
"""CLIP's trained logit scale, the one CLIP-Adapter's classifier uses (``logit_scale.exp()``)."""


def global_adapter_loss(columns: Tensor | None = None) -> Callable[..., Tensor | None]:
    """The criterion term that trains a ``global`` adapter (``LossTerm`` of
    ``openhoi.models.detr.criterion``): CLIP-Adapter's cross-entropy of
    ``100 * cos(V_g', T)`` (``extras["zs_logits"]``) against each image's interactions as a
    uniform distribution, averaged over images that have any.

    Args:
        columns: ``[I']`` interactions the targets' multi-hot rows cover (the seen ones of a
            zero-shot split); None for all. Other interactions stay out of the softmax.
    """

    def term(outputs, targets: Sequence, indices, num_pairs: float) -> Tensor | None:
        zs = outputs.extras.get("zs_logits")  # [B, I] cosines, last layer only
        if zs is None:
            return None
        if columns is not None:
            zs = zs[:, columns.to(zs.device)]
        labels = torch.stack([t.interactions.to(zs).amax(0) if len(t) else
                              zs.new_zeros(zs.shape[-1]) for t in targets])  # [B, I']
        has = labels.sum(-1) > 0
        if not has.any():
            return zs.sum() * 0.0
        target = labels[has] / labels[has].sum(-1, keepdim=True)
        log_p = (CLIP_LOGIT_SCALE * zs[has].float()).log_softmax(-1)
        return -(target * log_p).sum(-1).mean()

    return term
