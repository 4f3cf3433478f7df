"""Turn raw query-pair outputs into scored HOI triplets in image pixels.

Reproduces GEN-VLKT/HOICLIP inference: ``PostProcessHOITriplet`` (``models/gen_vlkt.py``)
followed by the scoring, top-k and pair NMS of ``HICOEvaluator``
(``datasets/hico_eval_triplet.py``): every query pair is scored for every interaction class as
``sigmoid(interaction logit) + sigmoid(object logit of the interaction's object)^2``, the best
``top_k`` (query, interaction) candidates of an image are kept, then a pair-wise NMS per
interaction class removes duplicates. The rules are constructor arguments (``PostprocessConfig``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from openhoi.config import PostprocessConfig
from openhoi.label_space import LabelSpace
from openhoi.ops.boxes import box_cxcywh_to_xyxy, pair_nms
from openhoi.structures import HOIPredictions, HOIRawOutput

ScoreTerm = Callable[[HOIRawOutput], Tensor]
"""An additive term on the interaction probabilities: ``outputs -> [B, Q or 1, I]`` (e.g.
HOICLIP's training-free zero-shot enhancement from CLIP's global image logits)."""


class PostProcessor:
    """Score, select and de-duplicate triplets.

    Args:
        interaction_object: ``[I]`` object index of each interaction
            (``LabelSpace.interaction_object``); ``-1`` (an objectless V-COCO interaction)
            selects the last, no-object column: pairs without an object are trained to
            predict it (``openhoi.models.detr.matcher.build_pair_targets``).
        human_label: object class given to the human boxes.
        top_k: candidates kept per image before NMS.
        obj_score: ``sigmoid`` or ``softmax`` of the object logits.
        obj_score_power: exponent of the object score.
        score_fusion: ``sum`` or ``product`` of interaction and object scores.
        use_nms: apply ``pair_nms`` per interaction class.
        nms_threshold, nms_alpha, nms_beta: see ``openhoi.ops.boxes.pair_nms``.
        score_terms: additive ``ScoreTerm``s on the interaction probabilities.
    """

    def __init__(self, interaction_object: Tensor, human_label: int, top_k: int = 100,
                 obj_score: str = "sigmoid", obj_score_power: float = 2.0,
                 score_fusion: str = "sum", use_nms: bool = True, nms_threshold: float = 0.7,
                 nms_alpha: float = 1.0, nms_beta: float = 0.5,
                 score_terms: Sequence[ScoreTerm] = ()) -> None:
        if obj_score not in ("sigmoid", "softmax") or score_fusion not in ("sum", "product"):
            raise ValueError(f"unknown scoring rule {obj_score!r} / {score_fusion!r}")
        self.interaction_object = interaction_object.long()
        self.human_label = human_label
        self.top_k = top_k
        self.obj_score = obj_score
        self.obj_score_power = obj_score_power
        self.score_fusion = score_fusion
        self.use_nms = use_nms
        self.nms_threshold = nms_threshold
        self.nms_alpha = nms_alpha
        self.nms_beta = nms_beta
        self.score_terms = list(score_terms)

    @property
    def reads_extras(self) -> bool:
        """Whether scoring reads ``outputs.extras`` (only score terms do, e.g. S_zs)."""
        return bool(self.score_terms)

    def object_probs(self, outputs: HOIRawOutput) -> Tensor:
        """``[B, Q, O + 1]``: the head's ensembled probabilities where it gives them
        (``extras["obj_log_probs"]``, ViLD), else ``obj_score`` of the object logits."""
        log_probs = outputs.extras.get("obj_log_probs")
        if log_probs is not None:
            return log_probs.float().exp()
        obj_logits = outputs.obj_logits.float()
        return obj_logits.sigmoid() if self.obj_score == "sigmoid" else obj_logits.softmax(-1)

    def triplet_scores(self, outputs: HOIRawOutput) -> Tensor:
        """``[B, Q, I]`` score of every (query pair, interaction)."""
        logits = outputs.interaction_logits.float()  # [B, Q, I]
        if logits.shape[-1] != self.interaction_object.shape[0]:
            raise ValueError(f"interaction logits have {logits.shape[-1]} classes, the label "
                             f"space {self.interaction_object.shape[0]}")
        inter = logits.sigmoid()
        for term in self.score_terms:
            inter = inter + term(outputs)
        obj = self.object_probs(outputs)  # [B, Q, O + 1]
        obj = obj[..., self.interaction_object.to(obj.device)].pow(self.obj_score_power)
        return inter + obj if self.score_fusion == "sum" else inter * obj

    @torch.no_grad()
    def __call__(self, outputs: HOIRawOutput, orig_sizes: Tensor,
                 image_ids: Sequence[str]) -> list[HOIPredictions]:
        """Triplets of each image.

        Args:
            outputs: raw model output of the last layer (``aux`` is ignored).
            orig_sizes: ``[B, 2]`` (height, width) of the images on disk.
            image_ids: file name of each image.

        Returns:
            One ``HOIPredictions`` per image, triplets sorted by decreasing score. Boxes are
            those of the queries used by a kept triplet: the human boxes of these queries, then
            their object boxes, labelled with ``human_label`` and the detector's most likely
            object class (the triplet's own object class is that of its interaction).
        """
        scores = self.triplet_scores(outputs)  # [B, Q, I]
        num_interactions = scores.shape[-1]
        k = min(self.top_k, scores.shape[1] * num_interactions)
        top_scores, flat = scores.flatten(1).topk(k, dim=1)  # [B, k], sorted
        query = torch.div(flat, num_interactions, rounding_mode="floor")  # [B, k]
        interaction = flat % num_interactions

        height, width = orig_sizes.to(scores.device, torch.float32).unbind(-1)
        scale = torch.stack([width, height, width, height], dim=-1)[:, None]  # [B, 1, 4]
        h_boxes = box_cxcywh_to_xyxy(outputs.h_boxes_cxcywh.float()) * scale  # [B, Q, 4] pixels
        o_boxes = box_cxcywh_to_xyxy(outputs.o_boxes_cxcywh.float()) * scale
        obj_labels = self.object_probs(outputs)[..., :-1].argmax(-1)  # [B, Q]

        if self.use_nms:
            index = query.unsqueeze(-1).expand(-1, -1, 4)
            keep = pair_nms(h_boxes.gather(1, index), o_boxes.gather(1, index), interaction,
                            self.nms_threshold, self.nms_alpha, self.nms_beta)  # [B, k]
        else:
            keep = torch.ones_like(query, dtype=torch.bool)

        results = []
        for i, image_id in enumerate(image_ids):
            q = query[i][keep[i]]
            used, pos = torch.unique(q, return_inverse=True)  # [U], [K]
            n = used.shape[0]
            results.append(HOIPredictions(
                boxes_xyxy=torch.cat([h_boxes[i, used], o_boxes[i, used]]),  # [2U, 4]
                labels=torch.cat([torch.full_like(used, self.human_label),
                                  obj_labels[i, used]]),
                pair_idx=torch.stack([pos, pos + n], dim=1),  # [K, 2]
                interactions=interaction[i][keep[i]],
                scores=top_scores[i][keep[i]],
                image_id=image_id,
            ))
        return results


def build_postprocessor(cfg: PostprocessConfig, label_space: LabelSpace,
                        score_terms: Sequence[ScoreTerm] = ()) -> PostProcessor:
    """The post-processor of a config over all interactions of ``label_space``."""
    return PostProcessor(label_space.interaction_object, label_space.human_label, cfg.top_k,
                         cfg.obj_score, cfg.obj_score_power, cfg.score_fusion, cfg.use_nms,
                         cfg.nms_threshold, cfg.nms_alpha, cfg.nms_beta, score_terms)
