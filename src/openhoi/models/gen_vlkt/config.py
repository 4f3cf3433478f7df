"""The GEN-VLKT family's model config: the one-stage detector sections (the interaction
decoder takes the instance decoder's depth)."""

from __future__ import annotations

from dataclasses import dataclass

from openhoi.config import DetectionModelConfig


@dataclass(frozen=True)
class GenVLKTConfig(DetectionModelConfig):
    """GEN-VLKT (Liao et al., CVPR 2022) as HOICLIP's baseline; recipe values come from
    ``configs/hicodet_gen_vlkt.yaml``."""
