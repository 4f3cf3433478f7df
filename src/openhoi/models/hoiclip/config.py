"""The HOICLIP family's model config: the one-stage detector sections, with HOICLIP's rule
tying the interaction decoder's depth to the instance decoder's."""

from __future__ import annotations

from dataclasses import dataclass

from openhoi.config import DetectionModelConfig
from openhoi.errors import ConfigError


@dataclass(frozen=True)
class HOICLIPConfig(DetectionModelConfig):
    """HOICLIP (Ning et al., CVPR 2023); defaults are its HICO-DET recipe."""

    def __post_init__(self) -> None:
        super().__post_init__()
        n_inter, n_dec = self.interaction.num_layers, self.detector.num_decoder_layers
        if n_inter not in (1, n_dec):
            raise ConfigError(
                f"interaction.num_layers {n_inter} must be 1 or equal detector."
                f"num_decoder_layers {n_dec}: each auxiliary output pairs one interaction "
                "layer with one instance-decoder layer (HOICLIP's _set_aux_loss_triplet)")
