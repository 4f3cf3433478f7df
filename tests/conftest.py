"""Root of the test tree: pytest puts this folder on ``sys.path``, so shared helpers
(``engine_toys``) import from any sub-folder. Also fault injection shared by the reliability
tests (``read_only``)."""

from __future__ import annotations

import errno
import os
import pathlib

import pytest


@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)``: make ``folder`` unwritable. Without root a real ``chmod 555``;
    as root (which ignores permissions) creating or writing anything inside it raises
    ``EROFS``, as on a read-only mount."""
    folders: list[pathlib.Path] = []
    mkdir, write_bytes, opener = pathlib.Path.mkdir, pathlib.Path.write_bytes, pathlib.Path.open

    def blocked(path: pathlib.Path) -> bool:
        path = pathlib.Path(os.path.abspath(path))
        return any(path != f and f in path.parents for f in folders)

    def refuse(path: pathlib.Path) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    def fake_mkdir(self, *a, **k):
        if blocked(self) and not self.is_dir():
            refuse(self)
        return mkdir(self, *a, **k)

    def fake_write_bytes(self, *a, **k):
        if blocked(self):
            refuse(self)
        return write_bytes(self, *a, **k)

    def fake_open(self, mode="r", *a, **k):
        if blocked(self) and any(c in mode for c in "wax+"):
            refuse(self)
        return opener(self, mode, *a, **k)

    def make(folder: pathlib.Path) -> pathlib.Path:
        folder = pathlib.Path(os.path.abspath(folder))
        if os.geteuid() != 0:
            folder.chmod(0o555)
            folders.append(folder)
            return folder
        folders.append(folder)
        monkeypatch.setattr(pathlib.Path, "mkdir", fake_mkdir)
        monkeypatch.setattr(pathlib.Path, "write_bytes", fake_write_bytes)
        monkeypatch.setattr(pathlib.Path, "open", fake_open)
        return folder

    yield make
    for f in folders:
        if os.geteuid() != 0:
            f.chmod(0o755)
