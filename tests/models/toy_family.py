"""A model family written outside the package, the way a new method is added: one module with
its config section, model, builder and table line (``ARCHITECTURE``). The test registers the
line in ``openhoi.models.build.ARCHITECTURES`` and drives it through the CLI; nothing in
``engine/``, ``predict.py``, ``cli/`` or ``open_vocab.py`` knows it exists."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from openhoi.config import LossConfig, MatcherConfig, ModelConfig, PostprocessConfig
from openhoi.label_space import LabelSpace
from openhoi.models.contract import Architecture, HOIModel
from openhoi.models.detr.criterion import build_criterion
from openhoi.models.detr.postprocess import build_postprocessor
from openhoi.structures import HOIRawOutput, ImageBatch


@dataclass(frozen=True)
class ToyConfig(ModelConfig):
    """The toy family's section: its own knobs plus the shared matcher, loss and scoring."""

    hidden: int = 16
    """Channels of the one convolution."""
    num_queries: int = 4
    """Human-object pair queries."""
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)


class ToyDetector(HOIModel):
    """Convolution -> masked mean -> per-query linear heads (boxes, object, interaction)."""

    task = "detection"

    def __init__(self, hidden: int, num_queries: int, num_objects: int,
                 num_interactions: int) -> None:
        super().__init__()
        self.backbone = nn.Conv2d(3, hidden, 3, stride=2, padding=1)
        self.query = nn.Embedding(num_queries, hidden)
        self.obj_head = nn.Linear(hidden, num_objects + 1)
        self.box_head = nn.Linear(hidden, 8)
        self.inter_head = nn.Linear(hidden, num_interactions)

    def parameter_group(self, name: str) -> str:
        return "backbone" if name.startswith("backbone.") else "rest"

    def forward(self, batch: ImageBatch) -> HOIRawOutput:
        f = self.backbone(batch.images).relu()  # [B, C, H/2, W/2]
        valid = (~batch.mask[:, ::2, ::2]).unsqueeze(1).float()  # [B, 1, H/2, W/2]
        pooled = (f * valid).sum((2, 3)) / valid.sum((2, 3)).clamp(min=1)  # [B, C]
        x = pooled[:, None, :] + self.query.weight[None]  # [B, Q, C]
        boxes = self.box_head(x).sigmoid()  # [B, Q, 8] cxcywh, normalised
        return HOIRawOutput(obj_logits=self.obj_head(x), h_boxes_cxcywh=boxes[..., :4],
                            o_boxes_cxcywh=boxes[..., 4:], interaction_logits=self.inter_head(x))


def build_model(cfg: ToyConfig, space: LabelSpace, *, pretrained: bool = True,
                **files: object) -> ToyDetector:
    return ToyDetector(cfg.hidden, cfg.num_queries, space.num_objects, space.num_interactions)


def build_toy_criterion(cfg: ToyConfig, space: LabelSpace,
                        interaction_columns: Tensor | None = None) -> nn.Module:
    return build_criterion(cfg.matcher, cfg.loss, space, interaction_columns)


ARCHITECTURE = Architecture(
    config=ToyConfig, model=build_model, criterion=build_toy_criterion,
    postprocess=lambda cfg, space: build_postprocessor(cfg.postprocess, space))
