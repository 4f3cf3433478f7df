"""Initialise the detector from an official DETR checkpoint, the way HOI repos do.

GEN-VLKT/HOICLIP start from DETR-R50 trained on COCO (``detr-r50-e632da11.pth``) converted by
``tools/convert_parameters.py``: backbone, input projection and encoder load as they are; the
DETR decoder is copied into the instance decoder (its first ``L`` layers) and into GEN-VLKT's
interaction decoder; DETR's box MLP is copied into both the human and the object box heads;
DETR's class head rows of the label space's COCO ids (plus no-object) become a linear object
head. Query embeddings are not loaded (the references name theirs ``query_embed_h/o``, so
``strict=False`` skips DETR's ``query_embed``). Files already converted that way
(``detr-r50-pre-2branch-hico.pth``: ``transformer.instance_decoder``, ``hum_bbox_embed``...)
are accepted too.
"""

from __future__ import annotations

import argparse
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from openhoi.errors import CheckpointError
from openhoi.models.detr.heads import LinearObjectClassifier
from openhoi.models.detr.transformer import TransformerDecoder


@dataclass
class CheckpointReport:
    """What a checkpoint load did.

    Attributes:
        loaded: keys of the target modules that received a tensor.
        missing: keys of the target modules left at their initialisation.
        unused: keys of the file that were not used.
        notes: anything else worth telling the user (e.g. object classes DETR does not have).
    """

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"loaded {len(self.loaded)} tensors, {len(self.missing)} left at init, "
                f"{len(self.unused)} unused in the file")


def load_weights_only(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, for the ``.pth`` files of DETR and
    the HOI repositories: ``argparse.Namespace`` (they store their ``args``) is the only extra
    type allowed.

    Raises:
        CheckpointError: naming the file: it is missing, it needs code to load (the blocked
            global is named), or it cannot be read at all.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        lines = str(err).strip().splitlines()
        blocked = next((line.strip() for line in lines if "GLOBAL" in line or "global" in line),
                       None)
        if blocked is None:  # not a refused type: a corrupt or foreign file
            raise CheckpointError(f"{path}: cannot read checkpoint ({err})") from None
        raise CheckpointError(
            f"{path}: cannot be read safely (weights_only): {blocked}. Re-save only its "
            "weights, e.g. torch.save({'model': ckpt['model'], 'args': ckpt['args']}, path), "
            "in the environment that wrote it") from None
    except Exception as err:  # noqa: BLE001 - torch raises many types for corrupt files
        raise CheckpointError(f"{path}: cannot read checkpoint ({err})") from None


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The ``model`` state dict of a DETR-style ``.pth`` file (``model_state_dict`` in pocket's
    checkpoints: UPT's fine-tuned DETR), or a bare state dict, read with ``load_weights_only``."""
    path = Path(path)
    obj = load_weights_only(path)
    state = (obj.get("model", obj.get("model_state_dict", obj)) if isinstance(obj, Mapping)
             else None)
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict or a dict with a 'model' state dict")
    return dict(state)


def _map_keys(src: Mapping[str, Tensor], num_extra: int) -> dict[str, list[str]]:
    """Source key -> our keys (detector keys, or ``extra{j}.`` keys for extra decoders)."""
    hoi_layout = any(k.startswith("transformer.instance_decoder.") for k in src)
    prefixes = {
        "backbone.0.body.": ["backbone.body."],
        "input_proj.": ["input_proj."],
        "transformer.encoder.": ["encoder."],
    }
    if hoi_layout:
        prefixes["transformer.instance_decoder."] = ["instance_decoder.decoder."]
        prefixes["transformer.interaction_decoder."] = [f"extra{j}." for j in range(num_extra)]
        prefixes["hum_bbox_embed."] = ["h_box_head."]
        prefixes["obj_bbox_embed."] = ["o_box_head."]
    else:
        prefixes["transformer.decoder."] = (["instance_decoder.decoder."]
                                            + [f"extra{j}." for j in range(num_extra)])
        prefixes["bbox_embed."] = ["h_box_head.", "o_box_head."]
    mapping: dict[str, list[str]] = {}
    for key in src:
        for prefix, targets in prefixes.items():
            if key.startswith(prefix):
                rest = key[len(prefix):]
                if "decoder." in prefix:  # DETR's ``multihead_attn`` is ``cross_attn`` here
                    rest = rest.replace("multihead_attn.", "cross_attn.")
                mapping[key] = [t + rest for t in targets]
                break
    return mapping


def _object_rows(class_weight: Tensor, object_ids: Sequence[int],
                 report: CheckpointReport) -> tuple[list[int], list[int]]:
    """(our row, DETR row) pairs: each object's COCO id, then DETR's last (no-object) row."""
    no_object = class_weight.shape[0] - 1
    ours, theirs = [], []
    for row, cid in enumerate(object_ids):
        if 0 <= cid < no_object:
            ours.append(row)
            theirs.append(cid)
        else:
            report.notes.append(f"object {row} (id {cid}) has no DETR class row; left at init")
    ours.append(len(object_ids))
    theirs.append(no_object)
    return ours, theirs


def _object_head(head: LinearObjectClassifier, src: Mapping[str, Tensor], name: str,
                 object_ids: Sequence[int] | None, path: str | Path,
                 report: CheckpointReport) -> dict[str, Tensor]:
    """Weights of a linear object head from DETR's ``class_embed`` (COCO ids -> our rows) or a
    converted file's ``obj_class_embed`` (already in our order)."""
    w, b = src[f"{name}.weight"], src[f"{name}.bias"]
    ours = head.classifier.weight
    if name == "obj_class_embed" or object_ids is None:
        if w.shape != ours.shape:
            hint = "" if object_ids is not None else "; pass object_ids to select COCO rows"
            raise CheckpointError(f"{path}: {name}.weight has shape {tuple(w.shape)} but "
                                  f"obj_classifier.classifier.weight needs "
                                  f"{tuple(ours.shape)}{hint}")
        rows = (list(range(w.shape[0])), list(range(w.shape[0])))
    else:
        rows = _object_rows(w, object_ids, report)
    weight = ours.detach().clone()
    bias = head.classifier.bias.detach().clone()
    weight[rows[0]] = w[rows[1]].to(weight)
    bias[rows[0]] = b[rows[1]].to(bias)
    return {"obj_classifier.classifier.weight": weight, "obj_classifier.classifier.bias": bias}


def load_detr_checkpoint(detector: nn.Module, path: str | Path,
                         object_ids: Sequence[int] | None = None,
                         extra_decoders: Sequence[TransformerDecoder] = ()) -> CheckpointReport:
    """Copy a DETR checkpoint into ``detector`` (an ``openhoi.models.detr.detector.Detector``).

    Args:
        detector: the detector to initialise in place.
        path: DETR ``.pth`` file (official layout or HOI-converted 2-branch layout).
        object_ids: COCO category id of each object class (``LabelSpace.object_ids``); needed
            to take DETR's class-head rows for a linear object head.
        extra_decoders: decoders that also receive the DETR decoder (GEN-VLKT's interaction
            decoder); their keys appear in the report as ``extra{j}.*``.

    Returns:
        A ``CheckpointReport``. Raises ``CheckpointError`` naming the key and both shapes when a
        tensor does not fit.
    """
    src = read_state_dict(path)
    report = CheckpointReport()
    targets: dict[str, Tensor] = dict(detector.state_dict())
    for j, dec in enumerate(extra_decoders):
        targets.update({f"extra{j}.{k}": v for k, v in dec.state_dict().items()})
    new: dict[str, Tensor] = {}
    for key, ours in _map_keys(src, len(extra_decoders)).items():
        for k in ours:
            if k not in targets:
                continue
            if targets[k].shape != src[key].shape:
                raise CheckpointError(f"{path}: {key} has shape {tuple(src[key].shape)} but "
                                      f"{k} needs {tuple(targets[k].shape)}")
            new[k] = src[key]
    used = {key for key, ours in _map_keys(src, len(extra_decoders)).items()
            if any(k in new for k in ours)}

    head = getattr(detector, "obj_classifier", None)
    name = "obj_class_embed" if "obj_class_embed.weight" in src else "class_embed"
    if isinstance(head, LinearObjectClassifier) and f"{name}.weight" in src:
        new.update(_object_head(head, src, name, object_ids, path, report))
        used |= {f"{name}.weight", f"{name}.bias"}

    detector.load_state_dict({k: v for k, v in new.items() if not k.startswith("extra")},
                             strict=False)
    for j, dec in enumerate(extra_decoders):
        prefix = f"extra{j}."
        dec.load_state_dict({k[len(prefix):]: v for k, v in new.items()
                             if k.startswith(prefix)}, strict=False)
    report.loaded = sorted(new)
    report.missing = sorted(k for k in targets if k not in new)
    report.unused = sorted(k for k in src if k not in used)
    return report
