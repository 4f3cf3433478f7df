"""``openhoi.models.build``: the one builder applies the model config's kernel choices."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from openhoi.config import load_config
from openhoi.label_space import load_label_space
from openhoi.models.build import build_model, build_model_parts
from openhoi.ops.linear import Linear


@pytest.mark.parametrize("recipe", ["synthetic_tiny", "synthetic_tiny_gen_vlkt"])
@pytest.mark.parametrize("enabled", [True, False])
def test_linear_layers_follow_model_onednn_linear(recipe: str, enabled: bool) -> None:
    config = load_config(recipe, [f"model.onednn_linear={str(enabled).lower()}"])
    space = load_label_space("synthetic")
    torch.manual_seed(0)
    for model in (build_model_parts(config, space).model, build_model(config.model, space)):
        kinds = {type(m) for m in model.modules() if isinstance(m, nn.Linear)}
        assert (Linear in kinds) is enabled
        assert (nn.Linear in kinds) is not enabled


@pytest.mark.parametrize("enabled", [True, False])
def test_convolutions_follow_model_fast_conv(enabled: bool) -> None:
    from openhoi.ops.conv import Conv2d

    config = load_config("synthetic_tiny", [f"model.fast_conv={str(enabled).lower()}"])
    model = build_model(config.model, load_label_space("synthetic"))
    kinds = {type(m) for m in model.modules() if isinstance(m, nn.Conv2d)}
    assert (Conv2d in kinds) is enabled
