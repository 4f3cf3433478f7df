"""``openhoi.fileio``: atomic writes keep the old file on any fault, get an ordinary file mode,
leave no temp file (and clean up after a killed writer), and disk-full / read-only failures
become ``OutputError``s naming the file."""

import errno
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from openhoi.errors import OutputError
from openhoi.fileio import (
    atomic_write,
    atomic_write_text,
    check_writable_dir,
    file_mode,
    publish,
    temp_path,
)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_files_get_mode_0644_like_any_new_file(tmp_path, umask_022):
    path = atomic_write_text(tmp_path / "run.json", "{}")
    assert path.stat().st_mode & 0o777 == 0o644 == file_mode()
    torch_file = atomic_write(tmp_path / "last.pt", lambda tmp: torch.save({"a": 1}, tmp))
    assert torch_file.stat().st_mode & 0o777 == 0o644


def test_disk_full_keeps_the_old_file_and_names_it(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_text("old weights")

    def full(tmp):
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="no space left") as err:
        atomic_write(target, full)
    assert str(target) in str(err.value) and "Free some space" in str(err.value)
    assert target.read_text() == "old weights"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_torch_zip_writer_failure_reads_as_no_space(tmp_path, monkeypatch):
    """torch.save on a full disk raises RuntimeError('[enforce fail at inline_container.cc...')
    with no word of space; injected here."""
    target = tmp_path / "last.pt"
    torch.save({"epoch": 1}, target)

    def enforce_fail(obj, f, *a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", enforce_fail)
    with pytest.raises(OutputError, match="no space left") as err:
        atomic_write(target, lambda tmp: torch.save({"epoch": 2}, tmp))
    assert str(target) in str(err.value) and "MiB free" in str(err.value)
    monkeypatch.undo()
    assert torch.load(target)["epoch"] == 1


def test_read_only_folder_is_named_before_any_work(tmp_path, read_only):
    folder = tmp_path / "ro"
    folder.mkdir()
    read_only(folder)
    with pytest.raises(OutputError, match="not writable") as err:
        check_writable_dir(folder / "run", "--output")
    assert str(folder) in str(err.value) and "Choose a folder" in str(err.value)
    with pytest.raises(OutputError, match="not writable"):
        atomic_write_text(folder / "x.json", "{}")


def test_publish_never_replaces_a_file_another_run_wrote(tmp_path):
    out = tmp_path / "preds.jsonl"
    tmp = temp_path(out)
    tmp.write_text("mine\n")
    out.write_text("theirs\n")
    with pytest.raises(OutputError, match="another run") as err:
        publish(tmp, out, overwrite=False)
    kept = tmp_path / f"preds.jsonl.{os.getpid()}"
    assert out.read_text() == "theirs\n" and kept.read_text() == "mine\n"
    assert str(kept) in str(err.value) and "--overwrite" in str(err.value)


_SLOW_WRITER = """
import sys, time
from openhoi.fileio import atomic_write
def write(tmp):
    tmp.write_bytes(b"")
    print("writing", flush=True)
    time.sleep(60)
atomic_write(sys.argv[1], write)
"""


def test_temp_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "last.pt"
    target.write_text("epoch 1")
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(target)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = [p for p in tmp_path.iterdir() if p.name != "last.pt"]
    assert len(left) == 1 and left[0].stat().st_size == 0  # the 0-byte temp of the kill
    assert target.read_text() == "epoch 1"
    # a temp of a process that is still running is not touched
    alive = tmp_path / f".last.pt.{os.getppid()}.0123abcd.tmp"
    alive.write_text("")
    time.sleep(0.01)
    atomic_write_text(target, "epoch 2")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["last.pt", alive.name])
    assert target.read_text() == "epoch 2"
