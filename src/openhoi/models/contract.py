"""What every model family offers the rest of openhoi (engine, evaluate, predict, serve).

A family's model subclasses ``HOIModel``; its builder returns ``ModelParts`` (model, criterion,
post-processor: DETR's triple) and registers in ``openhoi.models.build.ARCHITECTURES``. Code
outside the families talks to a model only through this contract: it never imports a family's
modules and never asks which concrete class it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from torch import Tensor, nn

from openhoi.errors import OpenHOIError

if TYPE_CHECKING:
    from openhoi.label_space import LabelSpace

Task = Literal["detection", "recognition"]
"""``detection``: <human, verb, object> triplets with boxes (``HOIPredictions``, scored by the
HICO-DET / V-COCO evaluators); ``recognition``: image-level interaction scores
(``RecognitionPredictions``, scored by the recognition evaluator)."""

PARAMETER_GROUPS = ("rest", "backbone", "clip")
"""The engine's learning-rate groups: ``backbone`` (``train.lr_backbone``), ``clip`` (the
family's CLIP rate, ``ModelParts.group_lrs``), ``rest`` (``train.lr``)."""

PostProcess = Callable[[Any, Tensor, Sequence[str]], list[Any]]
"""``postprocess(raw_output, orig_sizes [B, 2] (h, w), image_ids) -> per-image predictions``."""


class OpenVocabularyError(OpenHOIError):
    """The model cannot score the requested classes (e.g. its family has no text side)."""


class HOIModel(nn.Module):
    """Base class of every family's model.

    Subclasses implement ``forward(batch) -> raw output`` (a typed dataclass: ``HOIRawOutput``
    for detection) and override the rest where they have something to say.
    """

    task: ClassVar[Task] = "detection"

    def parameter_group(self, name: str) -> str:
        """The learning-rate group (one of ``PARAMETER_GROUPS``) of parameter ``name``."""
        return "rest"

    def retarget(self, new_space: LabelSpace, base_space: LabelSpace) -> None:
        """Score the classes of ``new_space`` instead of ``base_space`` (open vocabulary),
        in place: known classes keep their trained weights, new ones come from the model's
        own text side."""
        raise OpenVocabularyError(
            f"{type(self).__name__} does not support open-vocabulary classes")

    def inference_view(self, *, extras: bool = True) -> nn.Module:
        """A module computing the same outputs for inference, possibly with less work (folded
        normalisation, other layouts); it may share parameters with ``self``. ``extras``:
        whether the post-processor reads the optional outputs (``HOIRawOutput.extras``)."""
        return self


@dataclass
class ModelParts:
    """A family's model, the criterion that trains it and the post-processor that turns its
    raw output into predictions, all fed by the same raw output.

    Attributes:
        model: the ``HOIModel``.
        criterion: ``criterion(raw, targets, num_pairs) -> {term: weighted loss}``.
        postprocess: see ``PostProcess``.
        group_lrs: learning rates of the family's own parameter groups (``{"clip": 1e-5}``);
            ``rest`` and ``backbone`` come from the training config.
    """

    model: HOIModel
    criterion: nn.Module
    postprocess: PostProcess
    group_lrs: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Architecture:
    """One line of the build table: how a family reads its config and builds its parts.

    Attributes:
        config: the family's model-config dataclass (``model:`` of a recipe is read into it).
        model: ``model(model_cfg, label_space, *, pretrained=True, **files) -> HOIModel``;
            without ``pretrained`` nothing is read from disk (a checkpoint overwrites every
            weight); ``files`` are the family's own pretrained inputs (``verb_repr``...), and
            a family ignores the ones it has no use for.
        criterion: ``criterion(model_cfg, label_space, interaction_columns) -> nn.Module``;
            ``interaction_columns`` ``[I']``: the classes losses see (a zero-shot split's
            seen ones), None for all.
        postprocess: ``postprocess(model_cfg, label_space) -> PostProcess``.
        group_lrs: learning rates of the family's own parameter groups from its config.
    """

    config: type
    model: Callable[..., HOIModel]
    criterion: Callable[..., nn.Module]
    postprocess: Callable[..., PostProcess]
    group_lrs: Callable[[Any], dict[str, float]] = lambda cfg: {}
