"""HICO's image-level labels (``anno.mat``), for Known-Object and recognition evaluation.

``anno.mat`` (shipped in ``hico_20160224_det/`` and ``hico_20150920/``) holds ``list_train`` /
``list_test`` (file names), ``anno_train`` / ``anno_test`` (``[600, N]``: 1 positive, -1
negative, 0 ambiguous, NaN unknown) in the official interaction order, the order of the
``hicodet`` label space.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openhoi.errors import DataError
from openhoi.label_space import LabelSpace


def _load(path: str | Path, space: LabelSpace, split: str) -> tuple[list[str], np.ndarray]:
    from scipy.io import loadmat  # heavy import, only when reading .mat files

    path = Path(path)
    try:
        mat = loadmat(str(path))
        names = [str(np.asarray(x).reshape(-1)[0]) for x in np.asarray(mat[f"list_{split}"])
                 .reshape(-1)]
        labels = np.asarray(mat[f"anno_{split}"], dtype=np.float64)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except KeyError as err:
        raise DataError(f"{path}: missing variable {err}") from None
    except (ValueError, TypeError, OSError) as err:
        raise DataError(f"{path}: not a readable anno.mat ({err})") from None
    if labels.shape != (space.num_interactions, len(names)):
        raise DataError(f"{path}: anno_{split} has shape {labels.shape}, expected "
                        f"({space.num_interactions}, {len(names)}) for label space "
                        f"{space.name!r}")
    return names, labels.T


def read_hico_known_objects(path: str | Path, space: LabelSpace,
                            split: str = "test") -> dict[str, set[int]]:
    """Objects each image is labelled with: those of its positive (== 1) interactions.

    This is ``eval_one.m``'s Known-Object image selection (``any(anno_im(nid, :) == 1, 1)``).
    """
    names, labels = _load(path, space, split)
    obj = space.interaction_object.numpy()
    img, cls = np.nonzero(labels == 1)
    out: dict[str, set[int]] = {n: set() for n in names}
    for i, c in zip(img.tolist(), cls.tolist()):
        out[names[i]].add(int(obj[c]))
    return out


def read_hico_classification(path: str | Path, space: LabelSpace
                             ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Test images, their ``[N, I]`` labels, and positive training images per class."""
    names, labels = _load(path, space, "test")
    _, train = _load(path, space, "train")
    return names, labels, (train == 1).sum(0).astype(np.int64)
