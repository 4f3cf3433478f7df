"""Image-level HOI recognition with a trained recognition checkpoint (DEFR family).

``Recognizer.from_checkpoint(path)`` rebuilds the model from the checkpoint alone (config and
label space travel with it), preprocesses images the way the model was trained (square resize,
its normalisation) and returns the top interactions with their scores.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw, ImageFont

from openhoi.errors import CheckpointError, OpenHOIError
from openhoi.label_space import LabelSpace, interaction_names


@dataclass
class Recognition:
    """Top interactions of one image (``error`` set when the image could not be read)."""

    image: str
    interactions: list[dict[str, Any]]
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"image": self.image, "interactions": self.interactions}
        if self.error is not None:
            out["error"] = self.error
        return out


class Recognizer:
    """Checkpoint -> preprocess -> model -> sigmoid scores -> top-k interactions."""

    def __init__(self, model: torch.nn.Module, space: LabelSpace, transform: Any,
                 device: torch.device) -> None:
        self.model, self.space, self.transform, self.device = model, space, transform, device
        self.names = interaction_names(space)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | None = None,
                        interactions: Sequence[str] | None = None,
                        objects: Sequence[str] | None = None) -> Recognizer:
        """Load a recognition checkpoint or exported weights; optionally retarget the model
        to an open-vocabulary interaction list and/or object vocabulary (the same lists as
        ``HOIPredictor.from_checkpoint``, see ``openhoi.open_vocab``)."""
        from openhoi.data.recognition import recognition_transforms
        from openhoi.models.build import load_model

        loaded = load_model(path)
        m, space = loaded.model, loaded.label_space
        if m.task != "recognition":
            raise CheckpointError(f"{path}: a {m.task} model, not a recognition one; use "
                                  "`openhoi predict` for detectors")
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        tf = recognition_transforms(m.image_size, m.pixel_mean, m.pixel_std, train=False)
        recognizer = cls(m.to(dev).eval(), space, tf, dev)
        if objects is not None:
            from openhoi.open_vocab import object_vocabulary_entries

            interactions = object_vocabulary_entries(
                list(objects), space, list(interactions) if interactions is not None else None)
        if interactions is not None:
            recognizer.set_interactions(interactions)
        return recognizer

    def set_interactions(self, entries: Sequence[str]) -> LabelSpace:
        """Score ``entries`` (``"ride horse"``...) instead of the training interactions: known
        ones keep their trained classifier rows, new ones get the model's language rows
        (``HOIModel.retarget``). Returns the new label space."""
        from openhoi.open_vocab import open_vocab_label_space

        space = open_vocab_label_space(list(entries), self.space)
        with torch.inference_mode(False), torch.no_grad():
            self.model.retarget(space, self.space)
        self.space = space
        self.names = interaction_names(space)
        return space

    @torch.no_grad()
    def logits(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """``[N, I]`` logits (DEFR's reach |x| ~ 100: exp(4.61) times a cosine)."""
        from openhoi.data.recognition import recognition_collate
        from openhoi.structures import ImageLabels

        batch, _ = recognition_collate(
            [(self.transform(im), ImageLabels("", (im.height, im.width), torch.zeros(0)))
             for im in images])
        return self.model(batch.to(self.device)).logits.float().cpu()

    def scores(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """``[N, I]`` sigmoid scores."""
        return self.logits(images).sigmoid()

    def recognize(self, paths: Sequence[str | Path], top_k: int = 5,
                  min_score: float = 0.0) -> Iterator[Recognition]:
        from openhoi.data.image_io import load_image

        for path in paths:
            try:
                image = load_image(path)
            except OpenHOIError as err:
                yield Recognition(str(path), [], str(err))
                continue
            logits = self.logits([image])[0]
            s = logits.sigmoid()
            # ranked by logit: float32 sigmoid is exactly 1 above ~17, which would tie them
            top = torch.argsort(logits, descending=True)[:top_k].tolist()
            items = [{"interaction": int(i), "name": self.names[i],
                      "verb": self.space.verbs[self.space.interactions[i][0]],
                      "object": self.space.objects[self.space.interactions[i][1]],
                      "score": round(float(s[i]), 6)} for i in top if float(s[i]) >= min_score]
            yield Recognition(str(path), items)


def draw_interaction_list(image: Image.Image, items: Sequence[dict[str, Any]]) -> Image.Image:
    """The image with a side panel listing ``name score`` lines, best first."""
    scale = max(1.0, 320 / max(1, min(image.size)))
    img = image.convert("RGB").resize((round(image.width * scale), round(image.height * scale)))
    font = ImageFont.load_default(size=max(12, img.height // 24))
    line = font.size + 6
    width = max([img.width // 2, 200] + [int(font.getlength(f"{it['name']}  {it['score']:.2f}"))
                                         + 20 for it in items])
    out = Image.new("RGB", (img.width + width, max(img.height, line * (len(items) + 1))),
                    (255, 255, 255))
    out.paste(img, (0, 0))
    draw = ImageDraw.Draw(out)
    for k, it in enumerate(items):
        y = 8 + k * line
        draw.rectangle([img.width + 6, y + 2, img.width + 6 + round(8 * it["score"]) + 2,
                        y + line - 6], fill=(40, 120, 200))
        draw.text((img.width + 20, y), f"{it['name']}  {it['score']:.2f}", fill=(0, 0, 0),
                  font=font)
    return out
