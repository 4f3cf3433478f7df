"""ViLD (Gu et al., ICLR 2022) as the object head of a DETR-style HOI detector.

* ViLD-text: each object query's feature is projected to the text space (the region
  embedding), L2-normalised and scored by cosine against frozen, prompt-ensembled text
  embeddings of the class names plus a learned background embedding (normalised too), times a
  temperature of 100; trained with cross-entropy (the detector's ``obj_ce``), where classes
  never seen in training are left out of the softmax (``SetCriterion``'s ``unseen_objects``).
* ViLD-image: a second projection (ViLD's "double branch") gives a region embedding in CLIP's
  image space, pulled by an L1 loss (weight 0.5) towards the normalised CLIP image embedding
  of the cropped object (``vild_image_loss``; crops cached by ``openhoi.models.clip.vild_crops``).
* Inference: the two branches are scored against the class texts and combined geometrically,
  ``p_text^(1-l) * p_image^l`` on novel classes and ``p_text^l * p_image^(1-l)`` on base ones,
  l = 2/3 (ViLD eq. 5); the background probability is the text branch's.

Reference: ``projects/vild`` of tensorflow/tpu (``modeling/vild_head.py``: ``project-to-clip``,
``background-class-predict`` with a normalised kernel, ``class_outputs *= temperature``;
``modeling/vild_model.py``: ``feat_distill_loss``, an absolute difference times the feature
size, i.e. summed over features; ``ops/postprocess_ops.py``: the ensemble).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IMAGE_EMBED = "vild_region_image_embed"
"""``extras`` key: ``[B, Q, E']`` L2-normalised image-branch region embeddings."""
OBJ_LOG_PROBS = "obj_log_probs"
"""``extras`` key: ``[B, Q, O + 1]`` log of the ensembled object probabilities (background
last); the post-processor scores objects from it when present."""


class ViLDObjectClassifier(nn.Module):
    """ViLD's object head on query features ``[..., D]``.

    Args:
        in_dim: query feature width ``D``.
        text_embeds: ``[O, E]`` class-name text embeddings (normalised here; frozen).
        image_text_embeds: ``[O, E']`` the class names in CLIP's joint space (the image
            branch is scored against them), or None for ViLD-text alone.
        temperature: logits = temperature * cosine (ViLD: 100).
        novel: ``[O]`` bool, classes novel at inference (the ensemble's weighting).
        ensemble_lambda: l of the ensemble.
        text_encoder, templates: how the text rows were made (``retarget`` makes new ones the
            same way).

    ``forward`` returns ``(logits [..., O + 1], extras)``: the text branch's logits (background
    last, DETR's no-object column) and, with the image branch, ``IMAGE_EMBED`` and
    ``OBJ_LOG_PROBS``, per layer like the logits.
    """

    def __init__(self, in_dim: int, text_embeds: Tensor, image_text_embeds: Tensor | None = None,
                 temperature: float = 100.0, novel: Tensor | None = None,
                 ensemble_lambda: float = 2.0 / 3.0, text_encoder: str = "clip",
                 templates: Sequence[str] = ("a photo of {}.",)) -> None:
        super().__init__()
        num_classes, embed_dim = text_embeds.shape
        self.temperature = temperature
        self.ensemble_lambda = ensemble_lambda
        self.text_encoder = text_encoder
        self.templates = tuple(templates)
        self.text_proj = nn.Linear(in_dim, embed_dim)  # ViLD's project-to-clip
        self.background = nn.Parameter(torch.randn(embed_dim) * 0.01)  # stddev 0.01, ViLD
        self.register_buffer("text_embeds", F.normalize(text_embeds.float(), dim=-1))
        novel = torch.zeros(num_classes, dtype=torch.bool) if novel is None else novel.bool()
        self.register_buffer("novel", novel.clone())
        if image_text_embeds is not None:
            self.image_proj = nn.Linear(in_dim, image_text_embeds.shape[1])
            self.register_buffer("image_text_embeds",
                                 F.normalize(image_text_embeds.float(), dim=-1))
        else:
            self.image_proj = None
            self.register_buffer("image_text_embeds", None)

    @property
    def num_classes(self) -> int:
        return int(self.text_embeds.shape[0])

    def forward(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        region = F.normalize(self.text_proj(x), dim=-1)  # [..., E] region embedding
        classes = torch.cat([self.text_embeds, F.normalize(self.background, dim=-1)[None]])
        logits = self.temperature * region @ classes.t().to(region.dtype)  # [..., O + 1]
        extras: dict[str, Tensor] = {}
        if self.image_proj is not None:
            image = F.normalize(self.image_proj(x), dim=-1)  # [..., E'] ViLD-image embedding
            image_logits = self.temperature * image @ self.image_text_embeds.t().to(image.dtype)
            extras[IMAGE_EMBED] = image
            extras[OBJ_LOG_PROBS] = ensemble_log_probs(logits, image_logits, self.novel,
                                                       self.ensemble_lambda)
        return logits, extras

    @torch.no_grad()
    def set_classes(self, text_embeds: Tensor, image_text_embeds: Tensor | None,
                    novel: Tensor) -> None:
        """Score other classes (open vocabulary): ``[O', E]`` text rows, ``[O', E']`` CLIP
        rows (with the image branch), ``[O']`` novel flags."""
        dev = self.text_embeds.device
        self.text_embeds = F.normalize(text_embeds.float(), dim=-1).to(dev)
        self.novel = novel.bool().to(dev)
        if self.image_proj is not None:
            if image_text_embeds is None:
                raise ValueError("the image branch needs CLIP text rows for the new classes")
            self.image_text_embeds = F.normalize(image_text_embeds.float(), dim=-1).to(dev)

    def extra_repr(self) -> str:
        return (f"classes={self.num_classes}, temperature={self.temperature}, "
                f"image_branch={self.image_proj is not None}, encoder={self.text_encoder}")


def ensemble_log_probs(text_logits: Tensor, image_logits: Tensor, novel: Tensor,
                       lam: float) -> Tensor:
    """ViLD's ensemble, as log-probabilities ``[..., O + 1]`` (background last).

    Args:
        text_logits: ``[..., O + 1]`` text-branch logits, background last.
        image_logits: ``[..., O]`` image-branch logits (no background row).
        novel: ``[O]`` bool.
        lam: l: novel classes take ``p_text^(1-l) p_image^l``, base ``p_text^l p_image^(1-l)``.
    """
    log_text = text_logits.float().log_softmax(-1)  # [..., O + 1]
    log_image = image_logits.float().log_softmax(-1)  # [..., O]
    w_image = torch.where(novel.to(log_text.device), lam, 1 - lam)  # [O]
    objects = (1 - w_image) * log_text[..., :-1] + w_image * log_image
    return torch.cat([objects, log_text[..., -1:]], -1)


def vild_image_loss(outputs, targets, indices, num_pairs: float) -> Tensor | None:
    """ViLD-image: L1 between matched queries' normalised image-branch embeddings and the
    normalised CLIP embeddings of their objects' crops (``PairTargets.extras``: ``crop_embed``
    ``[M, E']``, ``crop_valid`` ``[M]``), summed over features, averaged over distilled pairs.
    A ``LossTerm`` of ``openhoi.models.detr.criterion``; None when the output has no image
    branch."""
    region = outputs.extras.get(IMAGE_EMBED)  # [B, Q, E']
    if region is None:
        return None
    pred, tgt, valid = [], [], []
    for b, (t, (src, dst)) in enumerate(zip(targets, indices)):
        if "crop_embed" not in t.extras:
            continue
        dst = dst.to(t.extras["crop_embed"].device)
        pred.append(region[b, src.to(region.device)])
        tgt.append(t.extras["crop_embed"][dst])
        valid.append(t.extras["crop_valid"][dst])
    if not pred:
        return region.sum() * 0.0
    pred_t = torch.cat(pred)
    tgt_t = F.normalize(torch.cat(tgt).to(pred_t), dim=-1)
    mask = torch.cat(valid).to(pred_t.device)
    if not mask.any():
        return region.sum() * 0.0
    return (pred_t[mask] - tgt_t[mask]).abs().sum(-1).mean()


def vild_class_embeddings(encoder_name: str, templates: Sequence[str], names: Sequence[str],
                          clip) -> Tensor:
    """``[N, E]`` prompt-ensembled text rows of ``names`` from ``encoder_name`` (``clip``:
    ``clip``'s text tower; ``minilm``: the packaged sentence encoder)."""
    from openhoi.models.clip.object_text import ClipText, ensemble_text_embeddings, minilm_encoder

    encoder = minilm_encoder() if encoder_name == "minilm" else ClipText(clip)
    return ensemble_text_embeddings(encoder, names, templates)


def build_vild_head(cfg, object_names: Sequence[str], in_dim: int, clip,
                    pretrained: bool = True) -> ViLDObjectClassifier:
    """The ViLD head of ``cfg`` (a ``ViLDConfig``) for ``object_names``.

    Without ``pretrained`` the text rows are zero placeholders (a checkpoint overwrites the
    buffers) and no encoder runs.
    """
    from openhoi.models.clip.object_text import MINILM_DIM

    n = len(object_names)
    text_dim = MINILM_DIM if cfg.text_encoder == "minilm" else clip.embed_dim
    if pretrained:
        text = vild_class_embeddings(cfg.text_encoder, cfg.templates, object_names, clip)
    else:
        text = torch.zeros(n, text_dim)
    image_text = None
    if cfg.image_weight > 0:
        if cfg.text_encoder == "clip":
            image_text = text
        elif pretrained:
            image_text = vild_class_embeddings("clip", cfg.templates, object_names, clip)
        else:
            image_text = torch.zeros(n, clip.embed_dim)
    novel = torch.tensor([o in cfg.novel_objects for o in object_names], dtype=torch.bool)
    return ViLDObjectClassifier(in_dim, text, image_text, cfg.temperature, novel,
                                cfg.ensemble_lambda, cfg.text_encoder, cfg.templates)


@torch.no_grad()
def retarget_vild(head: ViLDObjectClassifier, obj_idx: Sequence[int], names: Sequence[str],
                  clip) -> None:
    """Score classes ``names`` (open vocabulary): ``obj_idx[i]`` is class i's row before (or
    -1 for a new class, whose rows are encoded as the training rows were and which counts
    as novel in the ensemble)."""
    idx = torch.tensor(list(obj_idx), dtype=torch.long)
    known = idx >= 0
    new_names = [n for n, j in zip(names, obj_idx) if j < 0]

    def rows(old: Tensor, encoder: str) -> Tensor:
        out = torch.zeros(len(idx), old.shape[1], device=old.device)
        out[known] = old[idx[known].to(old.device)]
        if new_names:
            out[~known] = vild_class_embeddings(encoder, head.templates, new_names,
                                                clip).to(old.device)
        return out

    novel = torch.ones(len(idx), dtype=torch.bool)
    novel[known] = head.novel.cpu()[idx[known]]
    image = None if head.image_proj is None else rows(head.image_text_embeds, "clip")
    head.set_classes(rows(head.text_embeds, head.text_encoder), image, novel)
