"""Fixtures shared by the DEFR family's tests."""

import pytest
import torch

from openhoi.models.clip.clip_loading import load_clip_model, register_openhoi_configs


@pytest.fixture(scope="module")
def tiny_clip_file(tmp_path_factory):
    """A random ``openhoi-tiny`` CLIP (seed 0) saved as a state-dict file: ``(path, model)``."""
    register_openhoi_configs()
    torch.manual_seed(0)
    model, _ = load_clip_model("openhoi-tiny", None)
    path = tmp_path_factory.mktemp("clip") / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path, model
