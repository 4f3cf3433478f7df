"""``HOIPredictor``: checkpoint -> preprocess -> model -> post-process -> triplets in pixels.

The checkpoint describes itself (resolved config, label space, weights), so prediction needs
no model flags. The model is built once and kept; each call only preprocesses, runs the
network under ``torch.inference_mode`` and post-processes. Images are read with EXIF rotation
applied (``openhoi.data.image_io``), so boxes are in the pixels a viewer shows. The forward
pass runs under the autocast of ``precision`` (``openhoi.precision``; default ``auto``: bf16
where the device computes it natively), scores are computed in float32.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torchvision.ops import clip_boxes_to_image
from torchvision.transforms import functional as TF

from openhoi.config import Config
from openhoi.data.detections import Instances
from openhoi.data.image_io import load_image
from openhoi.data.loader import pad_images
from openhoi.data.transforms import resize_shape
from openhoi.errors import OpenHOIError
from openhoi.label_space import LabelSpace
from openhoi.models.build import build_postprocess, load_model
from openhoi.models.contract import HOIModel
from openhoi.precision import autocast, outputs_to_float, precision_name, resolve_precision
from openhoi.structures import HOIPredictions, Triplet

log = logging.getLogger(__name__)

PREDICT_PRECISION = "auto"
"""``openhoi predict``'s default precision: bf16 where native. On the demo's trained model bf16
moved test mAP by +0.06 points and best scores by at most 0.05 (README, "Precision")."""


@dataclass
class ImageResult:
    """Predictions for one image (or the error that kept it from being read).

    Attributes:
        image: the path (or name) of the image.
        width, height: size of the image as shown (EXIF rotation applied), in pixels.
        triplets: detections, best first.
        error: why the image was skipped, else None.
        drawing: the picture drawn of this result (``openhoi predict --draw``), else None.
    """

    image: str
    width: int = 0
    height: int = 0
    triplets: list[Triplet] = field(default_factory=list)
    error: str | None = None
    drawing: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON-lines record ``openhoi predict`` writes (boxes xyxy, image pixels)."""
        if self.error is not None:
            return {"image": self.image, "error": self.error}
        return {
            "image": self.image,
            "width": self.width,
            "height": self.height,
            **({"drawing": self.drawing} if self.drawing is not None else {}),
            "triplets": [
                {
                    "human_box": [round(v, 2) for v in t.h_box_xyxy],
                    "object_box": None if t.o_box_xyxy is None else
                    [round(v, 2) for v in t.o_box_xyxy],
                    "object": t.object_name,
                    "verb": t.verb_name,
                    "interaction": t.interaction,
                    "score": round(t.score, 5),
                }
                for t in self.triplets
            ],
        }


def predictions_to_triplets(pred: HOIPredictions, label_space: LabelSpace, top_k: int | None,
                            min_score: float, image_size: tuple[int, int] | None = None
                            ) -> list[Triplet]:
    """``HOIPredictions`` of one image -> ``Triplet``s with names, best first, filtered; boxes
    clipped to the image when ``image_size`` (width, height) is given (evaluation scores the
    unclipped boxes, as the references do)."""
    order = torch.argsort(pred.scores, descending=True, stable=True)
    keep = order[pred.scores[order] >= min_score]
    if top_k is not None:
        keep = keep[:top_k]
    xyxy = pred.boxes_xyxy
    if image_size is not None:
        xyxy = clip_boxes_to_image(xyxy, (image_size[1], image_size[0]))  # (height, width)
    boxes = xyxy.tolist()
    out = []
    for k in keep.tolist():
        h, o = (int(x) for x in pred.pair_idx[k])
        inter = int(pred.interactions[k])
        verb, obj = label_space.interactions[inter]
        out.append(Triplet(
            h_box_xyxy=tuple(boxes[h]),
            o_box_xyxy=tuple(boxes[o]) if obj >= 0 and o >= 0 else None,
            object_name=label_space.objects[obj] if obj >= 0 else "",
            verb_name=label_space.verbs[verb],
            interaction=inter,
            score=float(pred.scores[k]),
        ))
    return out


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class HOIPredictor:
    """Predict HOI triplets on images with a trained model.

    Args:
        model: a detection model (``HOIModel`` of task ``detection``; any device, it is
            moved to ``device``).
        config: the resolved config the model was trained with (preprocessing and scoring).
        label_space: the classes the model scores.
        device: where to run; None picks CUDA when available.
        precision: ``auto`` / ``fp32`` / ``bf16`` / ``fp16`` (``openhoi.precision``); None
            means ``PREDICT_PRECISION``.

    Example::

        predictor = HOIPredictor.from_checkpoint("runs/tiny/model.safetensors")
        for result in predictor.predict(["photo.jpg"]):
            print(result.triplets[:5])
    """

    def __init__(self, model: HOIModel, config: Config, label_space: LabelSpace,
                 device: str | torch.device | None = None, precision: str | None = None
                 ) -> None:
        if model.task != "detection":
            raise OpenHOIError(f"HOIPredictor predicts triplets; this model's task is "
                               f"{model.task!r}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.amp_dtype = resolve_precision(self.device, precision, PREDICT_PRECISION)
        """Autocast dtype of the forward pass (None: float32)."""
        log.info("predicting on %s in %s", self.device, precision_name(self.amp_dtype))
        self.model = model.to(self.device).eval()
        self.config = config
        self.label_space = label_space
        self.postprocess = build_postprocess(config.model, label_space)
        self._fast: torch.nn.Module | None = None  # inference view, built on first use

    @property
    def fast_model(self) -> torch.nn.Module:
        """``model``'s inference view (``HOIModel.inference_view``: e.g. the backbone's
        BatchNorm folded, channels-last convolutions): same outputs, less time."""
        if self._fast is None:
            self._fast = self.model.inference_view()
        return self._fast

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device | None = None,
                        interactions: Sequence[str] | None = None,
                        objects: Sequence[str] | None = None,
                        precision: str | None = None) -> HOIPredictor:
        """Load a checkpoint or exported safetensors file; optionally retarget the model to
        an open-vocabulary interaction list and/or object vocabulary (see
        ``openhoi.open_vocab``)."""
        loaded = load_model(path)
        predictor = cls(loaded.model, loaded.config, loaded.label_space, device, precision)
        if objects is not None:
            from openhoi.open_vocab import object_vocabulary_entries

            interactions = object_vocabulary_entries(
                list(objects), loaded.label_space,
                list(interactions) if interactions is not None else None)
        if interactions is not None:
            predictor.set_interactions(interactions)
        return predictor

    def apply_settings(self, overrides: Sequence[str]) -> Config:
        """Change inference-only settings (``model.postprocess.*`` pair NMS and top-k,
        ``model.interaction.zero_shot_topk``, ``data.test_scale`` / ``data.max_size``) with
        ``KEY=VALUE`` strings; see ``openhoi.inference_settings``. Returns the new config."""
        from openhoi.inference_settings import apply_inference_overrides

        self.config = apply_inference_overrides(self.config, overrides)
        self.postprocess = build_postprocess(self.config.model, self.label_space)
        return self.config

    def set_interactions(self, entries: Sequence[str]) -> LabelSpace:
        """Score ``entries`` (``"ride horse"``...) instead of the training interactions.

        Known classes keep their trained classifier rows; new ones get CLIP text embeddings.
        Returns the new label space.
        """
        from openhoi.open_vocab import open_vocab_label_space

        space = open_vocab_label_space(list(entries), self.label_space)
        with torch.inference_mode(False), torch.no_grad():
            self.model.retarget(space, self.label_space)
        self.label_space = space
        self.postprocess = build_postprocess(self.config.model, space)
        self._fast = None  # the view shares the replaced classifiers' parents: rebuild it
        return space

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """RGB image -> ``[3, H, W]`` normalised tensor at the test scale (shorter side
        ``data.test_scale``, longer at most ``data.max_size``), as in evaluation."""
        data = self.config.data
        h, w = resize_shape((image.height, image.width), data.test_scale, data.max_size)
        h, w = max(h, 1), max(w, 1)  # a 3x2000 strip would round its short side to 0
        if (h, w) != (image.height, image.width):
            image = TF.resize(image, [h, w])
        return TF.normalize(TF.to_tensor(image), list(data.pixel_mean), list(data.pixel_std))

    @torch.inference_mode()
    def predict_images(self, images: Sequence[Image.Image], names: Sequence[str],
                       top_k: int | None = None, min_score: float = 0.0) -> list[ImageResult]:
        """Predict on already-loaded RGB images (one batch)."""
        batch = pad_images([self.preprocess(im) for im in images]).to(self.device)
        batch.image_ids = tuple(str(n) for n in names)
        with autocast(self.device, self.amp_dtype):
            outputs = outputs_to_float(self.fast_model(batch))
        orig = torch.tensor([[im.height, im.width] for im in images], device=self.device)
        preds = self.postprocess(outputs, orig, list(names))
        return [
            ImageResult(str(n), im.width, im.height,
                        predictions_to_triplets(p.to("cpu"), self.label_space, top_k, min_score,
                                                (im.width, im.height)))
            for n, im, p in zip(names, images, preds)
        ]

    @torch.inference_mode()
    def detect_instances(self, images: Sequence[Image.Image]) -> list[Instances]:
        """The model's human and object boxes of each image (one batch), in its pixels, as
        instances for a two-stage pipeline (``openhoi.data.detections``): per query pair its
        object box with the best object class and that class's probability, and its human
        box with the same score (a one-stage detector scores a query's pair, not its human
        apart). Duplicates across queries are left to the pipeline's NMS."""
        batch = pad_images([self.preprocess(im) for im in images]).to(self.device)
        with autocast(self.device, self.amp_dtype):
            outputs = outputs_to_float(self.fast_model(batch))
        probs = (self.postprocess.object_probs(outputs)
                 if hasattr(self.postprocess, "object_probs")
                 else outputs.obj_logits.float().softmax(-1))  # [B, Q, O + 1]
        scores, labels = probs[..., :-1].max(-1)  # [B, Q], no-object column dropped
        out = []
        for b, im in enumerate(images):
            wh = torch.tensor([im.width, im.height], device=self.device).repeat(2)  # [4]
            boxes = torch.cat([outputs.h_boxes_cxcywh[b], outputs.o_boxes_cxcywh[b]])  # [2Q, 4]
            cx, cy, w, h = boxes.float().unbind(-1)
            xyxy = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1) * wh
            xyxy = clip_boxes_to_image(xyxy, (im.height, im.width))  # [2Q, 4] image pixels
            human = torch.full_like(labels[b], self.label_space.human_label)
            out.append(Instances(xyxy.cpu(), torch.cat([scores[b], scores[b]]).cpu(),
                                 torch.cat([human, labels[b]]).cpu()))
        return out

    def predict(self, paths: Iterable[str | Path], batch_size: int = 1,
                top_k: int | None = None, min_score: float = 0.0,
                progress: bool = False) -> Iterator[ImageResult]:
        """Predict on image files, yielding one ``ImageResult`` per file in order.

        An unreadable file, or one the model fails on (a batch that fails is retried image
        by image), yields a result with ``error`` set (and a warning); the rest go on.
        """
        from tqdm import tqdm

        paths = [Path(p) for p in paths]
        bar = tqdm(total=len(paths), unit="img", disable=not progress, desc="predict")
        for chunk in _batches(paths, batch_size):
            loaded, names, failed = [], [], {}
            for p in chunk:
                try:
                    loaded.append(load_image(p))
                    names.append(str(p))
                except OpenHOIError as err:
                    log.warning("skipping %s", err)
                    failed[str(p)] = str(err)
            results = {r.image: r for r in
                       self._predict_isolated(loaded, names, top_k, min_score)}
            for p in chunk:
                yield results.get(str(p)) or ImageResult(str(p), error=failed[str(p)])
            bar.update(len(chunk))
        bar.close()

    def _predict_isolated(self, images: list[Image.Image], names: list[str],
                          top_k: int | None, min_score: float) -> list[ImageResult]:
        """``predict_images``, with an image the model fails on reported, not raised."""
        if not images:
            return []
        try:
            return self.predict_images(images, names, top_k, min_score)
        except (RuntimeError, ValueError) as err:
            if len(images) == 1:
                msg = f"{names[0]}: prediction failed ({type(err).__name__}: {err})"
                log.warning("skipping %s", msg)
                return [ImageResult(names[0], images[0].width, images[0].height, error=msg)]
        return [r for im, n in zip(images, names)
                for r in self._predict_isolated([im], [n], top_k, min_score)]
