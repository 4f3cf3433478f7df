"""Shared fixtures: the synthetic label space and a small generated synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from openhoi.data.synthetic import generate_synthetic
from openhoi.label_space import LabelSpace, load_label_space


@pytest.fixture(scope="session")
def space() -> LabelSpace:
    return load_label_space("synthetic")


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    generate_synthetic(root, 24, seed=5, test_fraction=0.25)
    return root
