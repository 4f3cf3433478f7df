from __future__ import annotations

from pathlib import Path

import pytest
from ez_helpers import DETS, tiny2_weights, write_detections


@pytest.fixture(scope="session")
def ez_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(toy CLIP weights, detections file)."""
    folder = tmp_path_factory.mktemp("ez_hoi")
    return tiny2_weights(folder), write_detections(folder / "dets.json", DETS)
