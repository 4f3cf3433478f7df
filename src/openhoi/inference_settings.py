"""``--set`` for ``openhoi predict`` and ``evaluate --checkpoint``: the settings a trained model
can change without retraining (post-processing and test-time scale), nothing else.

    --set model.postprocess.use_nms=false          pair NMS off (GEN-VLKT/HOICLIP --use_nms_filter)
    --set model.postprocess.nms_threshold=0.5      pair NMS threshold (--thres_nms)
    --set model.postprocess.top_k=50               triplets kept per image before NMS
    --set model.interaction.zero_shot_topk=20      HOICLIP's training-free enhancement (0: off)
    --set data.test_scale=800 --set data.max_size=1333
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openhoi.config import Config, from_dict, merge, parse_overrides, to_dict
from openhoi.errors import ConfigError

INFERENCE_KEYS = ("model.postprocess.", "model.interaction.zero_shot_topk", "data.test_scale",
                  "data.max_size")
"""Keys (or key prefixes, ending in a dot) ``--set`` may change at inference."""


def _flatten(tree: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in tree.items():
        out += _flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return out


def apply_inference_overrides(config: Config, items: Sequence[str]) -> Config:
    """``config`` with ``KEY=VALUE`` overrides of inference-only settings applied.

    Raises:
        ConfigError: a key that would change the model (its weights were trained with it), or
            an invalid value (the config's own checks).
    """
    updates = parse_overrides(items)
    for key in _flatten(updates):
        if not any(key == k or (k.endswith(".") and key.startswith(k)) for k in INFERENCE_KEYS):
            raise ConfigError(
                f"--set {key}: only inference settings can change for a trained model "
                f"({', '.join(k + '*' if k.endswith('.') else k for k in INFERENCE_KEYS)}); "
                "anything else is fixed by the checkpoint's training")
    return from_dict(type(config), merge(to_dict(config), updates))
