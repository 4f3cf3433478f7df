"""Numpy views of a ``LabelSpace``'s index maps, for the evaluators.

``LabelSpace`` returns torch tensors (the model's needs); the evaluators run on numpy and
``openhoi evaluate`` never imports torch, so they read the same facts from here.
"""

from __future__ import annotations

import numpy as np

from openhoi.label_space import LabelSpace


def interaction_verb(space: LabelSpace) -> np.ndarray:
    """``[I]`` int64 verb index of each interaction."""
    return np.array([v for v, _ in space.interactions], dtype=np.int64).reshape(-1)


def interaction_object(space: LabelSpace) -> np.ndarray:
    """``[I]`` int64 object index of each interaction, -1 for objectless interactions."""
    return np.array([o for _, o in space.interactions], dtype=np.int64).reshape(-1)


def interaction_table(space: LabelSpace) -> np.ndarray:
    """``[V, O]`` int64 interaction of (verb, object), -1 where it is not a class."""
    table = np.full((space.num_verbs, space.num_objects), -1, dtype=np.int64)
    verb, obj = interaction_verb(space), interaction_object(space)
    has_obj = obj >= 0
    table[verb[has_obj], obj[has_obj]] = np.flatnonzero(has_obj)
    return table


def objectless_table(space: LabelSpace) -> np.ndarray:
    """``[V]`` int64 objectless interaction of each verb, -1 where it has none."""
    table = np.full(space.num_verbs, -1, dtype=np.int64)
    obj = interaction_object(space)
    table[interaction_verb(space)[obj < 0]] = np.flatnonzero(obj < 0)
    return table
