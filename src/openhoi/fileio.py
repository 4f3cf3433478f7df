"""Writing files so that a fault loses nothing: atomic replacement, ordinary file modes, temp
files a later run cleans up, and disk-full / read-only errors that say what happened.

Every file openhoi writes goes through ``atomic_write``: the content goes to a temporary file
next to the target (``.NAME.PID.TOKEN.tmp``), is fsynced, gets the mode an ordinary file gets
(``0666 & ~umask``, so 0644 under the usual umask 022; ``mkstemp`` alone gives 0600), and is
renamed onto the target. Readers see the old file or the new one, never half of one. A
process killed mid-write leaves its temp file; the next write of the same target removes temp
files whose process is gone.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from openhoi.errors import OutputError

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}
# torch.save reports a failed write (disk full included) as a RuntimeError from its zip writer.
_TORCH_WRITE_FAILURE = ("enforce fail", "PytorchStreamWriter failed", "file write failed",
                        "No space left")


def file_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file: ``0o666`` minus the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _temp_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(name)}\.(\d+)\.[0-9a-f]{{8}}\.tmp$")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_stale_temps(path: str | Path) -> list[Path]:
    """Remove temp files of ``path`` left by processes that no longer run (killed mid-write).

    Only names of the form ``atomic_write`` creates are touched; a temp file of a process that
    is still writing is kept. Returns the files removed.
    """
    path = Path(path)
    pattern = _temp_pattern(path.name)
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    for p in candidates:
        m = pattern.match(p.name)
        if m and not _pid_alive(int(m.group(1))):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


def temp_path(path: str | Path) -> Path:
    """A fresh temp name next to ``path``: ``.NAME.PID.TOKEN.tmp``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def describe_write_error(err: BaseException, path: str | Path) -> str | None:
    """A plain message for a failed write of ``path`` (no space, not writable), or None when
    ``err`` is not one of those."""
    path = Path(path)
    code = getattr(err, "errno", None)
    if isinstance(err, OSError) and code in _NO_SPACE:
        return (f"cannot write {path}: no space left on the device ({err.strerror}). Free some "
                "space or write somewhere else; files written before are intact")
    if isinstance(err, OSError) and code in _NOT_WRITABLE:
        where = err.filename or path
        return (f"cannot write {path}: {where} is not writable ({err.strerror}). Choose a "
                "folder you can write to, or fix its permissions")
    if isinstance(err, RuntimeError) and any(s in str(err) for s in _TORCH_WRITE_FAILURE):
        free = _free_bytes(path.parent)
        room = f"; {free / 2**20:.0f} MiB free there" if free is not None else ""
        return (f"cannot write {path}: the write failed, most likely no space left on the "
                f"device{room} (torch: {str(err).splitlines()[0][:200]}). Free some space or "
                "write somewhere else; files written before are intact")
    return None


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


@contextmanager
def output_errors(path: str | Path) -> Iterator[None]:
    """Turn disk-full / read-only failures inside the block into an ``OutputError`` naming
    ``path``; other errors pass unchanged."""
    try:
        yield
    except (OSError, RuntimeError) as err:
        message = describe_write_error(err, path)
        if message is None:
            raise
        raise OutputError(message) from err


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temp file next to ``path``, fsync it, give it an ordinary file
    mode, then rename it onto ``path``.

    Raises:
        OutputError: no space left, or the folder is not writable (the message names
            ``path``; the previous ``path``, if any, is untouched and no temp file is left).
    """
    path = Path(path)
    tmp = temp_path(path)
    with output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(path)
        try:
            write(tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.chmod(tmp, file_mode())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """``atomic_write`` of a text file (UTF-8)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_copy(src: str | Path, dst: str | Path) -> Path:
    """Copy ``src`` onto ``dst`` atomically."""
    return atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))


def publish(tmp: str | Path, path: str | Path, overwrite: bool) -> Path:
    """Move a finished temp file onto ``path`` in one step (ordinary file mode).

    Without ``overwrite`` an existing ``path`` is never replaced, even one another process
    created meanwhile: the result is then kept as ``PATH.PID`` and ``OutputError`` says so.
    """
    tmp, path = Path(tmp), Path(path)
    with output_errors(path):
        os.chmod(tmp, file_mode())
        if overwrite:
            os.replace(tmp, path)
            return path
        try:
            os.link(tmp, path)  # fails if path exists: no window between check and write
        except FileExistsError:
            kept = path.with_name(f"{path.name}.{os.getpid()}")
            os.replace(tmp, kept)
            raise OutputError(
                f"{path} was created by another run while this one ran; this run's output is "
                f"kept in {kept}. Pass --overwrite to replace files") from None
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            if path.exists():  # no hard links on this file system: check, then rename
                raise OutputError(f"{path} exists (created by another run meanwhile); pass "
                                  "--overwrite to replace files") from None
            os.replace(tmp, path)
            return path
        os.unlink(tmp)
    return path


def check_writable_dir(folder: str | Path, what: str) -> Path:
    """Create ``folder`` if needed and check a file can be written in it, before any work.

    Args:
        what: the option that named it (``--output``), for the message.

    Raises:
        OutputError: the folder cannot be created or written to (read-only file system,
            permissions, a file of that name, no space).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what} {folder}: is a file, not a folder")
    probe = temp_path(folder / "write-check")
    with output_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
        try:
            probe.write_bytes(b"")
        finally:
            probe.unlink(missing_ok=True)
    return folder
