"""Writer of ``anno_bbox.mat`` files in the layout of the released one, for tests.

``bbox_<split>``: 1 x N struct (filename, size, hoi); ``hoi``: 1 x K struct (id, bboxhuman,
bboxobject, connection, invis); boxes: 1 x n structs of x1, x2, y1, y2 (the released field
order), one-based pixels; an invisible HOI has empty boxes and connection.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import savemat


def _struct(records: list[dict], fields: tuple[str, ...]) -> np.ndarray:
    arr = np.empty((1, len(records)), dtype=[(f, object) for f in fields])
    for i, r in enumerate(records):
        for f in fields:
            arr[0, i][f] = r[f]
    return arr


def _boxes(boxes: list[list[float]]) -> np.ndarray:
    if not boxes:
        return np.zeros((0, 0))
    return _struct([{k: np.array([[v]], np.uint16) for k, v in zip(("x1", "y1", "x2", "y2"), b)}
                    for b in boxes], ("x1", "x2", "y1", "y2"))


def hoi(hoi_id: int, humans: list, objects: list, connection: list, invis: int = 0) -> dict:
    """One HOI struct: 1-based ``hoi_id``, one-based boxes, 1-based connection rows."""
    return {"id": np.array([[hoi_id]], np.uint16), "bboxhuman": _boxes(humans),
            "bboxobject": _boxes(objects),
            "connection": np.array(connection, np.uint8).reshape(-1, 2) if connection else
            np.zeros((0, 0)), "invis": np.array([[invis]], np.uint8)}


def write_anno_bbox(path: Path, images: list[tuple[str, list[dict]]], split: str = "test",
                    size: tuple[int, int] = (640, 480)) -> Path:
    """``images``: (file name, [hoi(...), ...]) in file order."""
    recs = [{"filename": name,
             "size": _struct([{"width": size[0], "height": size[1], "depth": 3}],
                             ("width", "height", "depth")),
             "hoi": _struct(hois, ("id", "bboxhuman", "bboxobject", "connection", "invis"))
             if hois else np.zeros((0, 0))}
            for name, hois in images]
    savemat(str(path), {f"bbox_{split}": _struct(recs, ("filename", "size", "hoi"))})
    return path
