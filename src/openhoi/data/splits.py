"""Training-set subsets for the low-data (fractional) setting of HOICLIP (Ning et al., CVPR 2023).

HOICLIP trains on 5/15/25/50% of HICO-DET's training images (and 1% in openhoi's recipes). Its
image lists exist only as files on Google Drive (``trainval_hico_{5,15,25,50}%.json``, linked from
its README) and the script that drew them is not published, so openhoi draws its own subsets with
:func:`low_data_subset`: same unit (whole images of ``trainval_hico.json``), same fractions, a
documented and seeded procedure. The fractions and seed are data, in ``hicodet.json``'s
``low_data`` field. To reproduce HOICLIP's exact images, point the data reader at their files.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

from openhoi.errors import ConfigError, DataError


def _rank_key(image_id: str, seed: int) -> bytes:
    return hashlib.sha256(f"{seed}\x00{image_id}".encode()).digest()


def low_data_subset(image_ids: Sequence[str], fraction: float, seed: int = 0) -> list[str]:
    """The ``floor(fraction * N)`` training images kept in the low-data setting.

    Procedure: every image id gets the key ``sha256(f"{seed}\\0{image_id}")``; images are ranked
    by key and the first ``floor(fraction * N)`` are kept (at least one when ``N > 0``), where
    the product is computed exactly from the decimal form of ``fraction`` (0.29 * 100 = 29).
    Hence the subset

    - depends only on the set of ids and the seed, not on their order or on Python's ``random``;
    - is *nested*: for one seed, the 5% subset is contained in the 15% subset, and so on, so a
      curve over fractions measures the effect of adding data, not of redrawing it;
    - is stable: an image's rank does not depend on which other images are present, so
      filtering the image list (e.g. dropping images without valid pairs) barely moves it.

    HOICLIP samples a fraction of training images too, but with an unpublished draw; subsets
    from here are an equivalent protocol, not the same images (see the module docstring).

    Args:
        image_ids: ids (file names) of all training images, each once.
        fraction: share of images to keep, in ``(0, 1]``.
        seed: selects an independent draw.

    Returns:
        The kept ids, sorted.
    """
    if not 0 < fraction <= 1:
        raise ConfigError(f"low-data fraction must be in (0, 1], got {fraction}")
    ids = list(image_ids)
    if len(set(ids)) != len(ids):
        dup = next(i for i, n in Counter(ids).items() if n > 1)
        raise DataError(f"low_data_subset: image id {dup!r} is listed more than once")
    if not ids:
        return []
    k = max(1, math.floor(Fraction(str(fraction)) * len(ids)))
    ranked = sorted(ids, key=lambda i: (_rank_key(i, seed), i))
    return sorted(ranked[:k])
