"""Fast JSON loading for the 100+ MB annotation and prediction files."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of JSON containers are built: each
    collection would walk all of them again (it halves the time to load a 200 MB file), and
    parsed JSON holds no reference cycles to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def loads_json(data: bytes) -> Any:
    """Parse JSON bytes with orjson (several times faster than ``json`` on the 100+ MB
    prediction files), falling back to ``json`` for the non-standard ``NaN`` / ``Infinity``
    that Python's ``json.dump`` writes.

    Raises:
        ValueError: with a readable reason (not UTF-8, nested too deeply, syntax and where).
    """
    import orjson

    try:
        with paused_gc():
            return orjson.loads(data)
    except orjson.JSONDecodeError as fast_err:
        reason = str(fast_err)
    if "depth limit" in reason or "recursion" in reason.lower():
        raise ValueError("nested too deeply (more than 1024 levels)")
    if "utf-8" in reason.lower():
        raise ValueError(f"not UTF-8 text, a binary file? ({reason})")
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(str(err)) from None
