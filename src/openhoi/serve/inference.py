"""One prediction request, start to end: upload bytes -> image -> triplets (-> picture).

Runs on the registry's worker thread. The answer is the JSON line ``openhoi predict`` writes
for the image; with ``draw`` it also carries the ``--draw`` picture and the pairs numbered as
in that picture, for the page.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

from openhoi.data.image_io import decode_image
from openhoi.serve.registry import ModelRegistry
from openhoi.visualize import draw_triplets, group_pairs

PICTURE_QUALITY = 90
"""JPEG quality of the drawn picture sent back to the page."""


@dataclass(frozen=True)
class PredictRequest:
    """What a client asked for (already checked by the API layer).

    Attributes:
        data: the uploaded file's bytes.
        name: the name reported as ``image`` in the answer (the upload's file name).
        model: the model to use (None: the default one).
        top_k: triplets kept, best first.
        min_score: triplets scoring below are dropped.
        interactions: open-vocabulary list replacing the trained interactions, or None.
        draw: also return the drawn picture and the numbered pairs.
    """

    data: bytes
    name: str
    model: str | None = None
    top_k: int = 10
    min_score: float = 0.0
    interactions: tuple[str, ...] | None = None
    draw: bool = False


def picture_data_url(picture: Any) -> str:
    """A PIL image as a ``data:image/jpeg;base64,...`` URL."""
    buf = io.BytesIO()
    picture.save(buf, format="JPEG", quality=PICTURE_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def pairs_json(triplets: list[Any]) -> list[dict[str, Any]]:
    """Triplets grouped into (human, object) pairs, numbered as ``draw_triplets`` numbers them
    (best pair first), each with all its interactions, best first."""
    return [
        {
            "pair": k + 1,
            "human_box": [round(v, 2) for v in p.h_box],
            "object_box": None if p.o_box is None else [round(v, 2) for v in p.o_box],
            "interactions": [{"name": text, "score": round(score, 5)} for text, score in p.rows],
        }
        for k, p in enumerate(group_pairs(triplets))
    ]


def predict_request(registry: ModelRegistry, request: PredictRequest) -> dict[str, Any]:
    """Decode, predict and optionally draw; the JSON answer of ``POST /api/predict``.

    Raises:
        openhoi.data.image_io.ImageTooLargeError: the image has too many pixels.
        OpenHOIError: the upload is not a readable image, or the model/interaction list is bad.
    """
    image = decode_image(io.BytesIO(request.data), request.name, registry.limits.max_pixels)
    predictor = registry.predictor(request.model, request.interactions)
    (result,) = predictor.predict_images([image], [request.name], request.top_k,
                                         request.min_score)
    answer = result.to_json()
    if request.draw:
        answer["picture"] = picture_data_url(draw_triplets(image, result.triplets))
        answer["pairs"] = pairs_json(result.triplets)
    return answer
