"""Convert checkpoints released by other toolboxes (HOICLIP, GEN-VLKT, DEFR, EZ-HOI) into openhoi
models.

``convert_checkpoint(path, "hoiclip" | "gen-vlkt" | "defr" | "ez-hoi")`` infers the architecture
from the tensor shapes (and the run's ``args`` where shapes cannot tell), maps every tensor onto
``openhoi.models.build.build_model``'s model and reports what was copied, derived and ignored;
``save_converted`` writes an openhoi checkpoint. See ``hoiclip``, ``gen_vlkt``, ``defr`` and
``ez_hoi`` for the key maps (EZ-HOI also needs inputs its files lack: ``convert_ez_hoi``).
"""

from openhoi.models.convert.converter import (
    SOURCES,
    ConvertedModel,
    convert_checkpoint,
    convert_ez_hoi,
    save_converted,
)
from openhoi.models.convert.report import ConversionReport

__all__ = ["SOURCES", "ConversionReport", "ConvertedModel", "convert_checkpoint", "convert_ez_hoi",
           "save_converted"]
