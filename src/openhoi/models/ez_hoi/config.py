"""The EZ-HOI family's config: its own sections only (CLIP, instance source, prompts, losses,
scoring). Defaults are EZ-HOI's released recipe (``scripts/hico_train_vitB_zs.sh`` over
``main_tip_finetune.py`` argparse defaults); see ``openhoi.models.ez_hoi`` for the sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from openhoi.config import ClipAdapterConfig, ClipConfig, DetectorConfig, ModelConfig
from openhoi.errors import ConfigError


def _ez_hoi_clip() -> ClipConfig:
    return ClipConfig(arch="ViT-B-16-quickgelu", image_resize="squash")


def _detr() -> DetectorConfig:
    # DETR-R50 as UPT fine-tunes it (detr/main.py defaults: 6 + 6 layers, 100 queries,
    # DETR's linear class head)
    return DetectorConfig(num_decoder_layers=6, num_queries=100, obj_head="linear")


@dataclass(frozen=True)
class InstancesConfig:
    """Where human and object instances come from, and UPT's filtering of them
    (``prepare_region_proposals``; values: ``main_tip_finetune.py`` defaults)."""

    source: Literal["detr", "file"] = "detr"
    """``detr``: a frozen DETR as released (``openhoi.models.detr.plain_detr``: one query set,
    DETR's post-processing; ``detector`` section, weights from ``detr_weights``); ``file``: a
    per-image detections JSON (``detections_file``, format in ``openhoi.data.detections``)."""
    detections_file: str | None = None
    """Detections JSON for ``source: file``."""
    detr_weights: str | None = None
    """DETR checkpoint (COCO DETR or UPT's HICO-DET fine-tune) for ``source: detr``; ``None``
    only for tiny test configs (random detector) or when a checkpoint overwrites the weights."""
    detr_classes: int = 80
    """Classes of the DETR checkpoint's head without no-object: 80 = the COCO categories in
    id order (UPT's HICO-DET fine-tune ``detr-r50-hicodet.pth``), 91 = DETR's COCO head
    indexed by category id (``detr-r50-e632da11.pth``), any other count = the label space's
    objects in order."""
    allow_random_detector: bool = False
    """Accept ``source: detr`` without ``detr_weights`` (a random detector: tiny recipes and
    tests only); otherwise building a fresh model without weights is a ``ConfigError``."""
    detector: DetectorConfig = field(default_factory=_detr)
    """DETR's architecture for ``source: detr`` (backbone, width, heads, layers, queries,
    pre-norm, dilation; the HOI detector's other fields are not DETR's and must stay off).
    Defaults: DETR-R50 (6 + 6 layers, 100 queries); a ``detector:`` section in a recipe
    starts from ``DetectorConfig``'s defaults."""
    nms_iou: float = 0.5
    """Per-class NMS IoU threshold (UPT ``batched_nms(bx, sc, lb, 0.5)``)."""
    box_score_thresh: float = 0.2
    """Instances below this score are dropped unless needed to reach ``min_instances``
    (``--box-score-thresh 0.2``)."""
    min_instances: int = 3
    """Humans, and separately objects, kept at least (top-scoring; ``--min-instances 3``)."""
    max_instances: int = 15
    """Humans, and separately objects, kept at most (``--max-instances 15``)."""

    def __post_init__(self) -> None:
        if self.source == "file" and not self.detections_file:
            raise ConfigError("model.instances.detections_file: required for source 'file'")
        if not 0 < self.nms_iou <= 1 or not 0 <= self.box_score_thresh <= 1:
            raise ConfigError("model.instances: nms_iou must lie in (0, 1], "
                              "box_score_thresh in [0, 1]")
        d = self.detector
        extras = [n for n in ("spatial_prior", "box_refine", "value_pos", "query_selection")
                  if getattr(d, n)]
        if self.source == "detr" and extras:
            raise ConfigError(f"model.instances.detector.{extras[0]}: not part of DETR (the "
                              "instance detector is DETR as released)")
        if self.detr_classes < 1:
            raise ConfigError("model.instances.detr_classes must be >= 1")
        if not 0 <= self.min_instances <= self.max_instances:
            raise ConfigError("model.instances: need 0 <= min_instances <= max_instances, got "
                              f"{self.min_instances} and {self.max_instances}")


@dataclass(frozen=True)
class PromptConfig:
    """MaPLe-style deep prompts of both CLIP towers and their adapters (EZ-HOI
    ``MultiModalPromptLearner``)."""

    num_tokens: int = 2
    """Learnable tokens per prompted layer (``--N_CTX 2``)."""
    depth: int = 9
    """Prompted layers 0..depth-1 of both towers (``--tune_LY 9``); at most the tower depth."""
    init: str = "A photo of"
    """Text whose first ``num_tokens`` token embeddings initialise the layer-0 text prompt
    (``--CTX_INIT``); deeper layers start from N(0, 0.02) as in MaPLe."""
    adapter_dim: int = 64
    """Bottleneck width of every adapter (``--emb_dim 64``)."""
    adapter_heads: int = 2
    """Attention heads inside the adapters (EZ-HOI's ``TransformerDecoderLayer*(d, 2, ...)``)."""
    adapter_dropout: float = 0.1
    """Dropout inside the adapters (EZ-HOI ``Adapter(dropout=0.1)``)."""
    text_position: Literal["after_sos", "released_tail"] = "after_sos"
    """Where text prompts sit: ``after_sos`` (MaPLe; they replace the first ``num_tokens``
    words of ``"<init> <class>."``), or ``released_tail`` (EZ-HOI's code: the last
    ``num_tokens`` of the 77 positions, after the end-of-text token, where CLIP's causal
    attention hides them from the text feature; kept for checkpoint parity)."""
    image_conditioned: bool = True
    """Adapt the visual prompts with the frozen CLIP global image feature (``--img_clip_pt``)."""
    visual_prompts_fp16: bool = True
    """Round the visual prompts to float16 where they enter the image tower, as EZ-HOI's
    ``VisionTransformer_MAPLE`` / ``ResidualAttentionBlock_MAPLE`` do (``.half()`` before the
    concatenation, whatever the tower's precision)."""
    instance_adapter: bool = True
    """ADA-CM's instance adapter in every image-tower layer (``--use_insadapter``)."""
    utpl: bool = True
    """Unseen-class text prompt learning for the ``zero_shot`` split (``--unseen_pt_inj``)."""
    utpl_max_sentences: int = 8
    """Difference sentences kept per unseen class (the released files have at most 8)."""
    classes: Literal["released", "all"] = "released"
    """Interaction classes given a text prompt: ``released`` = per verb the two classes whose
    descriptions differ most, plus the seen partner of every selected unseen class (EZ-HOI's
    ``select_HOI_index``); ``all`` = every class."""

    def __post_init__(self) -> None:
        if self.num_tokens < 1 or self.depth < 1 or self.adapter_dim < 1:
            raise ConfigError("model.prompts: num_tokens, depth and adapter_dim must be >= 1")
        if self.adapter_dim % self.adapter_heads:
            raise ConfigError("model.prompts.adapter_dim must be a multiple of adapter_heads")


@dataclass(frozen=True)
class EZHOILossConfig:
    """The two training terms (EZ-HOI ``UPT.forward`` in training)."""

    focal_alpha: float = 0.5
    """Binary focal loss alpha (``--alpha 0.5``)."""
    focal_gamma: float = 0.2
    """Binary focal loss gamma (``--gamma 0.2``)."""
    fg_iou: float = 0.5
    """A detected pair matches a ground-truth pair when both boxes reach this IoU
    (``--fg-iou-thresh 0.5``)."""
    semantic_weight: float = 150.0
    """Weight of the text-similarity KL term (``sem_loss = ... * 150``)."""
    semantic_temperature: float = 0.1
    """Softmax temperature of both similarity tables (``kl_loss``: ``T = 0.1``)."""


@dataclass(frozen=True)
class EZHOIConfig(ModelConfig):
    """EZ-HOI (Lei et al., NeurIPS 2024): a frozen detector gives instances; a frozen CLIP with
    guided deep prompts and adapters scores every human-instance pair."""

    architecture: str = "ez_hoi"
    clip: ClipConfig = field(default_factory=_ez_hoi_clip)
    instances: InstancesConfig = field(default_factory=InstancesConfig)
    prompts: PromptConfig = field(default_factory=PromptConfig)
    loss: EZHOILossConfig = field(default_factory=EZHOILossConfig)
    descriptions: str | None = None
    """Class descriptions: EZ-HOI's ``hico_HOI_descrip.txt`` or a JSON {interaction: text};
    ``None`` falls back to the class prompt (logged)."""
    difference_descriptions: str | None = None
    """UTPL's ``zs_possibility/<split>_diff.txt`` (or JSON); ``None`` leaves unseen classes
    without difference sentences (logged)."""
    zero_shot: str | None = None
    """The zero-shot split whose unseen classes UTPL adapts; set it to ``data.zero_shot``."""
    train_visual_head: bool = False
    """Fine-tune copies of CLIP's visual positional embedding, ``ln_post`` and projection (the
    frozen tower keeps the originals). EZ-HOI's ``main_tip_finetune.py`` means to (names
    starting with ``visual.``), but its ``CustomCLIP`` calls the tower ``image_encoder``, so
    the rule matches nothing and the head stays frozen: the default follows what runs, and
    the paper's 6.85M / 14.07M count it frozen."""
    roi_dropout: float = 0.2
    """Dropout on the 7x7 RoI feature maps in training (``featmap_dropout``)."""
    score_power: float = 2.8
    """Detection scores enter the test-time prior raised to this power (``--hyper_lambda``;
    1 in training)."""
    adapter: ClipAdapterConfig = field(default_factory=ClipAdapterConfig)
    """CLIP-Adapter (not in EZ-HOI; ``openhoi.models.clip.adapter``): ``pair`` on each pair's
    feature right before it is scored against the class text features, ``text`` on those text
    features (the semantic loss then sees them adapted too). Empty ``where``: none."""

    def __post_init__(self) -> None:
        if not 0 <= self.roi_dropout < 1:
            raise ConfigError("model.roi_dropout must lie in [0, 1)")
        bad = [w for w in self.adapter.where if w not in ("pair", "text")]
        if bad:
            raise ConfigError(f"model.adapter.where: {bad} are other families' places; EZ-HOI "
                              "adapts 'pair' and/or 'text'")
