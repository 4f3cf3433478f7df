"""``EZHOI``: instances from a frozen detector (or a file) -> every human x instance pair ->
RoI features of CLIP's prompted image tower -> cosine-like scores against the prompted text
features of the interaction classes, mapped to verbs (EZ-HOI ``UPT.compute_roi_embeddings``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from openhoi.data.detections import (
    Instances,
    file_instances,
    region_proposals,
)
from openhoi.models.clip.adapter import apply_adapter
from openhoi.models.clip.clip_knowledge import ClipKnowledge, prepare_clip_input
from openhoi.models.contract import HOIModel
from openhoi.models.detr.heads import MLP
from openhoi.models.ez_hoi.adapters import PromptAdapter
from openhoi.models.ez_hoi.pairs import roi_features
from openhoi.models.ez_hoi.prompts import PromptLearner, UnseenPriors
from openhoi.models.ez_hoi.towers import PromptedImageTower, encode_prompted_text
from openhoi.ops.dropout import Dropout
from openhoi.ops.pairs import enumerate_pairs
from openhoi.structures import HOIRawOutput, ImageBatch


@dataclass(frozen=True)
class InstanceFilter:
    """UPT's instance filtering settings (see ``detections.region_proposals``)."""

    human_label: int
    nms_iou: float = 0.5
    score_thresh: float = 0.2
    min_instances: int = 3
    max_instances: int = 15


class EZHOI(HOIModel):
    """EZ-HOI's pair classifier over a frozen detector and a frozen, prompted CLIP.

    Args:
        clip: frozen ``ClipKnowledge`` (both towers run through it, unmodified).
        prompts: the prompt learner.
        image_tower: prompted image tower (instance adapters, fine-tuned head copies).
        detector: frozen DETR (``openhoi.models.detr.plain_detr.PlainDETR``), or None with
            ``detections``.
        detections: per-image detections (``detections.read_detections``), or None.
        text_position: ``after_sos`` or ``released_tail`` (see ``PromptConfig``).
        classes: per-interaction tables (``build.class_tables``), fixed-size so that a
            checkpoint fits a model built without pretrained files: ``prompted [I]`` bool,
            ``class_tokens [I, L]``, ``descriptions [I, E]``, ``interaction_verb [I]``,
            ``interaction_table [V, O]``, ``object_text [O, E]``, and UTPL's ``partner [I]``
            (seen partner of an adapted unseen class, else -1), ``sentences [I, S, E]``,
            ``sentence_pad [I, S]``.
        adapters: CLIP-Adapters (``openhoi.models.clip.adapter.build_adapters``): ``pair`` on
            each pair's feature right before it is scored against the class text features,
            ``text`` on those text features; None (or missing keys): no adapter there.

    Raw output: ``verb_logits [B, P, V]`` (EZ-HOI's), ``interaction_logits [B, P, I]`` (the
    verb logit on each pair's (verb, object) class, -1e4 elsewhere), pair boxes normalised by
    the image size, ``obj_logits`` a one-hot (x10) of the detected object class; extras
    ``pair_mask [B, P]``, ``instance_scores [B, P, 2]`` (human, object detection scores),
    ``pair_objects [B, P]``, and for the semantic loss ``text_features [C, E]``,
    ``class_descriptions [C, E]``, ``class_index [C]`` of the C prompted classes.
    """

    task = "detection"

    def __init__(self, clip: ClipKnowledge, prompts: PromptLearner,
                 image_tower: PromptedImageTower, detector: nn.Module | None,
                 detections: dict[str, dict[str, Tensor]] | None, filt: InstanceFilter,
                 classes: dict[str, Tensor],
                 text_position: str = "after_sos", instance_adapter: bool = True,
                 adapter_dim: int = 64, roi_dropout: float = 0.2,
                 clip_resize: str = "squash", adapters: nn.ModuleDict | None = None) -> None:
        super().__init__()
        self.clip = clip
        self.detector = detector
        if detector is not None:
            detector.requires_grad_(False).eval()
        self.detections = detections
        self.filt = filt
        self.prompts = prompts
        self.image_tower = image_tower
        self.text_position = text_position
        self.clip_resize = clip_resize
        e = clip.embed_dim
        self.instance_proj = MLP(5 + e, 128, adapter_dim, 3) if instance_adapter else None
        self.vis_fuse = nn.Sequential(nn.Linear(2 * e, e), nn.ReLU(), nn.Linear(e, e), nn.ReLU())
        self.pair_adapter = PromptAdapter(e, None, adapter_dim, prompts.text_adapter.layer
                                          .cross_attn.num_heads, self_attention=True)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.roi_dropout = Dropout(roi_dropout)
        self.adapters = adapters
        for name, t in classes.items():
            self.register_buffer(name, t)

    # ---- contract ----------------------------------------------------------------------------
    def train(self, mode: bool = True) -> EZHOI:
        super().train(mode)
        self.clip.train(False)
        if self.detector is not None:
            self.detector.eval()  # frozen: BatchNorm/dropout never leave eval mode
        return self

    def parameter_group(self, name: str) -> str:
        """``rest`` (``train.lr``) for everything that trains: prompts, adapters (EZ-HOI's and
        CLIP-Adapters), fusion; CLIP and the detector are frozen."""
        return "rest"

    # ---- forward -----------------------------------------------------------------------------
    def forward(self, batch: ImageBatch) -> HOIRawOutput:
        insts = self.instances(batch)
        size = self.clip.image_size
        pixels = prepare_clip_input(batch.images, batch.sizes, size, self.clip.clip_mean,
                                    self.clip.clip_std, mode=self.clip_resize)  # [B, 3, S, S]
        image_features = None
        if self.prompts.image_adapter is not None:  # EZ-HOI: pre-extracted CLIP image feature
            crop = prepare_clip_input(batch.images, batch.sizes, size, self.clip.clip_mean,
                                      self.clip.clip_std, mode="center_crop")
            image_features = F.normalize(self.clip.encode_image(crop).global_feature, dim=-1)
        text_features = apply_adapter(self.adapters, "text", self.text_features())  # [C, E]
        visual_prompts = self.prompts.visual(image_features, len(batch))
        scale = size / batch.sizes.flip(-1).float().repeat(1, 2)  # [B, 4] pixels -> CLIP input
        priors = self._instance_priors(insts, batch.sizes) if self.instance_proj else None
        _, patch_map = self.image_tower(self.clip.model.visual, pixels, visual_prompts, priors)
        per_image = [self._pair_logits(patch_map[b], inst, scale[b], text_features)
                     for b, inst in enumerate(insts)]
        return self._raw_output(per_image, insts, batch.sizes, text_features)

    def instances(self, batch: ImageBatch) -> list[Instances]:
        """Filtered instances of every image, humans first, in the image's current pixels."""
        f = self.filt
        if self.detector is not None:
            # DETR's post-processing, no gradients; a COCO head keeps its 80 categories before
            # the softmax (EZ-HOI UPT.forward: reserve_indices)
            raw = self.detector.detect(batch, coco80_softmax=True)
        else:
            if len(batch.image_ids) != len(batch):
                raise ValueError("EZ-HOI with a detections file needs ImageBatch.image_ids")
            raw = [file_instances(self.detections, i, s)
                   for i, s in zip(batch.image_ids, batch.sizes)]
        return [region_proposals(r, f.human_label, f.nms_iou, f.score_thresh, f.min_instances,
                                 f.max_instances) for r in raw]

    @property
    def class_index(self) -> Tensor:
        """``[C]`` the prompted interaction classes, ascending."""
        return self.prompted.nonzero().squeeze(1)

    @property
    def verb_map(self) -> Tensor:
        """``[C, V]`` one-hot verb of each prompted class (EZ-HOI's ``label_HO``)."""
        verbs = self.interaction_verb[self.class_index]
        return F.one_hot(verbs, self.interaction_table.shape[0]).float()

    def unseen_priors(self) -> UnseenPriors | None:
        """UTPL inputs in rows of the prompted-class table, or None."""
        cls = (self.partner >= 0).nonzero().squeeze(1)
        if len(cls) == 0:
            return None
        row_of = self.prompted.long().cumsum(0) - 1  # [I] row of each prompted class
        return UnseenPriors(row_of[cls], row_of[self.partner[cls]], self.sentences[cls],
                            self.sentence_pad[cls])

    def text_features(self) -> Tensor:
        """``[C, E]`` prompted text features of the prompted classes."""
        index = self.class_index
        prompts = self.prompts.text(self.descriptions[index], self.unseen_priors())
        model = self.clip.model
        tokens = self.class_tokens[index]  # [C, L]
        eot = tokens.argmax(-1)
        embeds = model.token_embedding(tokens)  # [C, L, D]
        if self.text_position == "released_tail":
            # EZ-HOI's code puts the prompts after the end-of-text token, where CLIP's causal
            # attention cannot carry them to the feature: the features are the sentences'.
            return encode_prompted_text(model, embeds, eot, [], 1).float()
        n = prompts[0].shape[1]
        embeds = torch.cat([embeds[:, :1], prompts[0].to(embeds.dtype), embeds[:, 1 + n:]], 1)
        return encode_prompted_text(model, embeds, eot, prompts[1:], 1).float()

    def _instance_priors(self, insts: list[Instances], sizes: Tensor) -> tuple[Tensor, Tensor]:
        """ADA-CM ``get_prior`` ('cbe'): score, normalised box, object text feature ->
        MLP -> ``[B, N, d]`` with padding mask ``[B, N]`` (one zero slot if an image has none,
        so attention stays defined)."""
        n = max(1, max(len(i.scores) for i in insts))
        e = self.object_text.shape[1]
        priors = sizes.new_zeros((len(insts), n, 5 + e), dtype=torch.float32)
        pad = torch.ones(len(insts), n, dtype=torch.bool, device=sizes.device)
        for b, inst in enumerate(insts):
            k = len(inst.scores)
            norm = inst.boxes_xyxy / sizes[b].flip(-1).float().repeat(2)  # [k, 4] xyxy in [0, 1]
            priors[b, :k] = torch.cat([inst.scores[:, None], norm,
                                       self.object_text[inst.labels]], -1)
            pad[b, :max(k, 1)] = False
        return self.instance_proj(priors), pad

    def _pair_logits(self, fmap: Tensor, inst: Instances, scale: Tensor,
                     text: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``h_idx [P]``, ``o_idx [P]`` and verb logits ``[P, V]`` of one image."""
        h_idx, o_idx = enumerate_pairs(inst.labels, self.filt.human_label)
        if len(h_idx) == 0:
            return h_idx, o_idx, fmap.new_zeros(0, self.interaction_table.shape[0])
        feats = roi_features(fmap, inst.boxes_xyxy * scale, self.clip.image_size,
                             self.roi_dropout)  # [N, E]
        h = F.normalize(feats[h_idx], dim=-1)  # EZ-HOI individual_norm
        o = F.normalize(feats[o_idx], dim=-1)
        f = self.vis_fuse(torch.cat([h, o], -1))  # [P, E]  (logits_type "HO")
        f = self.pair_adapter(f[None])[0]  # img_align: attention over the image's pairs
        f = apply_adapter(self.adapters, "pair", f)  # CLIP-Adapter: a*A(f) + (1-a)*f, [P, E]
        verb_map = self.verb_map  # [C, V]
        counts = verb_map.sum(0).clamp(min=1)  # [V]
        logits = (f @ text.T) @ verb_map / counts / 2  # EZ-HOI logits_cache_HO
        return h_idx, o_idx, logits * self.logit_scale

    def _raw_output(self, per_image: list[tuple[Tensor, Tensor, Tensor]],
                    insts: list[Instances], sizes: Tensor, text: Tensor) -> HOIRawOutput:
        b, p = len(per_image), max(1, max(len(h) for h, _, _ in per_image))
        v = self.interaction_table.shape[0]
        o_cls = self.object_text.shape[0]
        dev = text.device
        verb_logits = torch.full((b, p, v), -1e4, device=dev)
        boxes = torch.zeros(b, p, 2, 4, device=dev)
        scores = torch.zeros(b, p, 2, device=dev)
        obj = torch.zeros(b, p, dtype=torch.long, device=dev)
        mask = torch.zeros(b, p, dtype=torch.bool, device=dev)
        for i, ((h_idx, o_idx, logits), inst) in enumerate(zip(per_image, insts)):
            k = len(h_idx)
            wh = sizes[i].flip(-1).float().repeat(2)
            verb_logits[i, :k] = logits
            boxes[i, :k, 0] = inst.boxes_xyxy[h_idx] / wh
            boxes[i, :k, 1] = inst.boxes_xyxy[o_idx] / wh
            scores[i, :k, 0], scores[i, :k, 1] = inst.scores[h_idx], inst.scores[o_idx]
            obj[i, :k] = inst.labels[o_idx]
            mask[i, :k] = True
        table = self.interaction_table  # [V, O]
        inter = verb_logits.new_full((b, p, table.max().item() + 1), -1e4)
        valid = table[:, obj].permute(1, 2, 0)  # [B, P, V] interaction of (verb, pair object)
        vi = valid >= 0
        inter[vi.nonzero(as_tuple=True)[:2] + (valid[vi],)] = verb_logits[vi]
        cxcywh = torch.cat([(boxes[..., :2] + boxes[..., 2:]) / 2,
                            boxes[..., 2:] - boxes[..., :2]], -1)  # [B, P, 2, 4]
        return HOIRawOutput(
            obj_logits=F.one_hot(obj, o_cls + 1).float() * 10.0, h_boxes_cxcywh=cxcywh[:, :, 0],
            o_boxes_cxcywh=cxcywh[:, :, 1], interaction_logits=inter, verb_logits=verb_logits,
            extras={"pair_mask": mask, "instance_scores": scores, "pair_objects": obj,
                    "text_features": text,
                    "class_descriptions": self.descriptions[self.class_index],
                    "class_index": self.class_index})
