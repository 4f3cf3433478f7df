"""Byte-level reader of HICO-DET triplet files in the exact layout ``json.dumps`` gives them.

GEN-VLKT / HOICLIP / PPDM prediction files (see :mod:`~openhoi.evaluation.gen_vlkt_files`)
are a JSON list of per-image records. Parsed as JSON, a full test set (9,658 images x 100
triplets, 200 MB) becomes 2.2 M dicts and 10 M floats, most of ``openhoi evaluate``'s time.
This module reads the same bytes without them: every record is compared, character for
character, with the layout's template (numbers left out), and its numbers alone go through
orjson as one flat array.

It is only a shortcut. Any byte the template does not account for (another key order or
spacing, escapes, ``NaN``, a missing or extra field, a misplaced or empty number, invalid
JSON of any kind) makes :func:`scan_triplet_records` return ``None``, and the caller reads the
file the general way: same arrays, same errors naming the record and field.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

_NUMERIC = b"0123456789.+-"
_MAX_EXACT = 2.0**53  # beyond it int -> float64 -> float32 may round twice: general path


def _table(keep: bytes) -> bytes:
    """``bytes.translate`` table: ``keep`` unchanged, ``]`` and ``}`` a tab, the rest a space."""
    table = bytearray(b" " * 256)
    for c in keep:
        table[c] = c
    table[ord("]")] = table[ord("}")] = ord("\t")
    return bytes(table)


_NUMBERS = _table(_NUMERIC + b",")  # letters blanked: the keys' "e"s too
_NUMBERS_EXP = _table(_NUMERIC + b",eE")  # for text with exponents ("1e-05")
_NAME_BAD = bytes(range(32)) + b"\\"  # control characters, escapes: the general path decides
_BATCH_BYTES = 1 << 20
_PREDS = b'{"preds": '  # GEN-VLKT's str({'preds': [...], 'gts': [...]}), made JSON
_PREDS_END = b'}]}], "gts": '  # the last record, the list, and the next key


class _Layout:
    """The template of one spacing (``json.dumps``' default, or compact) and name key.

    Pieces are the *skeleton* of a record, its bytes with every number removed: the record
    continues after its name's closing quote as ``head``, boxes, ``mid``, triplets, ``close``,
    then ``sep`` before the next record (``end`` after the last)."""

    def __init__(self, name_key: bytes, item_sep: bytes, key_sep: bytes) -> None:
        s, k = item_sep, key_sep
        self.start = b'[{"' + name_key + b'"' + k + b'"'
        self.marker = s + b'{"' + name_key + b'"' + k + b'"'
        self.head = b'"' + s + b'"predictions"' + k + b"["
        self.mid = b"]" + s + b'"hoi_prediction"' + k + b"["
        self.close, self.sep, self.end, self.item_sep = b"]}", s, b"]}]", s
        self.box = b'{"bbox"' + k + b"[" + s * 3 + b"]" + s + b'"category_id"' + k + b"}"
        self.hoi = (b'{"subject_id"' + k + s + b'"object_id"' + k + s + b'"category_id"' + k + s
                    + b'"score"' + k + b"}")
        self._lists: dict[tuple[bytes, int], bytes] = {}
        self._recent: tuple[bytes, int, int] = (b"", 0, 0)  # files repeat one record shape

    def repeated(self, item: bytes, n: int) -> bytes:
        key = (item, n)
        if key not in self._lists:
            self._lists[key] = self.item_sep.join([item] * n)
        return self._lists[key]

    def counts(self, skeleton: bytes, last: bool) -> tuple[int, int] | None:
        """(boxes, triplets) for which the template has this skeleton, else None."""
        if skeleton == self._recent[0]:
            return self._recent[1:]
        num_objects = skeleton.count(b"{")  # one per box and per triplet
        tail = self.end if last else self.close + self.sep
        fixed = len(self.head) + len(self.mid) + len(tail)
        for num_boxes in self._box_candidates(len(skeleton) - fixed, num_objects):
            num_hois = num_objects - num_boxes
            expected = b"".join((self.head, self.repeated(self.box, num_boxes), self.mid,
                                 self.repeated(self.hoi, num_hois), tail))
            if skeleton == expected:
                self._recent = (expected, num_boxes, num_hois)
                return num_boxes, num_hois
        return None

    def _box_candidates(self, length: int, n: int) -> list[int]:
        """Box counts that fit ``length`` bytes of lists holding ``n`` objects."""
        lb, lh, ls = len(self.box), len(self.hoi), len(self.item_sep)
        # both lists non-empty: length = nb * (lb + ls) + nh * (lh + ls) - 2 * ls
        num, den = length + 2 * ls - n * (lh + ls), lb - lh
        out = [num // den] if num % den == 0 and 0 < num // den < n else []
        return out + [0, n]


LAYOUTS = tuple(_Layout(name, s, k) for name in (b"filename", b"file_name")
                for s, k in ((b", ", b": "), (b",", b":")))


def _skeleton(chunk: bytes) -> bytes:
    return chunk.translate(None, _NUMERIC)


def _without_exponents(skeleton: bytes) -> bytes:
    """A number's exponent letter is the only letter left just before ``,``, ``]`` or ``}``."""
    for letter in (b"e", b"E"):
        for closer in (b",", b"]", b"}"):
            skeleton = skeleton.replace(letter + closer, closer)
    return skeleton


def _numbers(text: bytes, count: int, exponents: bool) -> np.ndarray | None:
    """The ``count`` numbers of list bodies (joined by commas) as float64, or None.

    Every byte of ``text`` but the numbers has been checked against the template; what is
    left to prove is that each number sits in its slot. With keys blanked and ``]``, ``}``
    as tabs: orjson reads one number between each pair of commas; every comma and tab
    follows a digit or a tab (no slot is empty, so no number sits elsewhere in its region,
    such as inside a key); every tab is followed by a tab, a comma or the end (no number
    right after a closing bracket).
    """
    import orjson

    if count == 0:
        return np.zeros(0) if not text else None
    if exponents:  # keep the numbers' e, blank the keys' (between two blanked letters)
        text = bytearray(text.translate(_NUMBERS_EXP))
        chars = np.frombuffer(text, dtype=np.uint8)
        e_at = np.flatnonzero((chars[1:-1] | 32) == ord("e")) + 1
        chars[e_at[(chars[e_at - 1] == ord(" ")) & (chars[e_at + 1] == ord(" "))]] = ord(" ")
    else:
        text = text.translate(_NUMBERS)
        chars = np.frombuffer(text, dtype=np.uint8)
    closers = np.flatnonzero((chars == ord(",")) | (chars == ord("\t")))
    if not chars.size or closers.size and closers[0] == 0:
        return None
    before = chars[np.append(closers - 1, chars.size - 1)]  # and the last byte
    tabs = closers[chars[closers] == ord("\t")]
    after = chars[tabs[tabs + 1 < chars.size] + 1]
    if (((before - ord("0") > 9) & (before != ord("\t"))).any()
            or ((after != ord(",")) & (after != ord("\t"))).any()
            or closers.size - tabs.size != count - 1):
        return None
    try:
        values = orjson.loads(b"[" + text + b"]")
        return np.fromiter(values, np.float64, count) if len(values) == count else None
    except (orjson.JSONDecodeError, OverflowError, TypeError, ValueError):
        return None


class _Batch:
    """The boxes and the triplets of records, without the fixed text around them, each kind
    joined by commas and parsed together once about a megabyte has gathered."""

    def __init__(self, layout: _Layout) -> None:
        self.layout = layout
        self.boxes: list[memoryview] = []
        self.hois: list[memoryview] = []
        self.size = self.num_boxes = self.num_hois = 0
        self.exponents = False
        self.parts: list[tuple[np.ndarray, ...]] = []  # _typed() of each batch

    def add(self, chunk: bytes, num_boxes: int, num_hois: int, last: bool,
            exponents: bool) -> bool:
        """Queue one record (False if its fixed text holds a number)."""
        lay = self.layout
        head = lay.head + (lay.mid if num_boxes == 0 else b"")
        tail = ((lay.mid if num_hois == 0 and num_boxes else b"") + lay.close
                + (lay.end[len(lay.close):] if last else lay.sep))
        if not (chunk.startswith(head) and chunk.endswith(tail)):
            return False
        if exponents and not self.exponents and not self.flush():
            return False  # a record with exponents is parsed alone: the slower way
        lo, hi = len(head), len(chunk) - len(tail)
        body = memoryview(chunk)[lo:hi]  # views: joined once per batch, copied once
        if num_boxes and num_hois:  # boxes take at least their skeleton and a byte a number
            least = lo + len(lay.repeated(lay.box, num_boxes)) + 5 * num_boxes
            split = chunk.find(lay.mid, least, hi) - lo
            if split < 0:
                return False
            self.boxes.append(body[:split])
            self.hois.append(body[split + len(lay.mid):])
        elif num_boxes or num_hois:
            (self.boxes if num_boxes else self.hois).append(body)
        self.size += len(body)
        self.num_boxes += num_boxes
        self.num_hois += num_hois
        self.exponents = exponents
        return self.size < _BATCH_BYTES and not exponents or self.flush()

    def flush(self) -> bool:
        boxes = _numbers(b",".join(self.boxes), 5 * self.num_boxes, self.exponents)
        hois = _numbers(b",".join(self.hois), 4 * self.num_hois, self.exponents)
        self.boxes, self.hois = [], []
        self.size = self.num_boxes = self.num_hois = 0
        self.exponents = False
        if boxes is None or hois is None:
            return False
        typed = _typed(boxes.reshape(-1, 5), hois.reshape(-1, 4))
        if typed is None:
            return False
        self.parts.append(typed)
        return True


def _typed(boxes: np.ndarray, hois: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """``boxes [n, 5]`` (x1, y1, x2, y2, category_id) and ``hois [k, 4]`` (subject_id,
    object_id, category_id, score) float64 -> the output dtypes; None where the JSON reader's
    result could differ: integers past 2**53 (it keeps them int64), non-integer ids or box
    categories (it names them, or keeps float categories unused)."""
    for values in (boxes, hois):
        if values.size and not -_MAX_EXACT < values.min() <= values.max() < _MAX_EXACT:
            return None
    box_labels = boxes[:, 4].astype(np.int64)
    ids = hois[:, :3].astype(np.int64)
    if (ids != hois[:, :3]).any() or (box_labels != boxes[:, 4]).any():
        return None
    return (boxes[:, :4].astype(np.float32), box_labels, ids[:, :2], ids[:, 2],
            hois[:, 3].astype(np.float32))


def _records(buf: Any, layout: _Layout, start: int,
             stop: int) -> Iterator[tuple[bytes, bytes, bool]]:
    """(name, rest of the record, is last) of each record of the list at ``buf[start:stop]``,
    found by the template's marker."""
    name_at = start + len(layout.start)
    while True:
        name_end = buf.find(b'"', name_at, stop)
        if name_end < 0:
            return
        nxt = buf.find(layout.marker, name_end, stop)
        last = nxt < 0
        end = stop if last else nxt + len(layout.sep)
        yield buf[name_at:name_end], buf[name_end:end], last
        if last:
            return
        name_at = nxt + len(layout.marker)


def _list_bounds(buf: Any) -> tuple[int, int] | None:
    """Where the list of records is: the whole file, or GEN-VLKT's ``preds`` (None if what
    follows it is not JSON, or names ``preds`` again: the JSON reader would take that one)."""
    if bytes(buf[:len(_PREDS)]) != _PREDS:
        return 0, len(buf)
    import orjson

    end = buf.find(_PREDS_END)
    rest = bytes(buf[end + len(b"}]}],"):]) if end >= 0 else b""  # ' "gts": [...]}'
    try:
        others = orjson.loads(b"{" + rest)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(others, dict) or "preds" in others:
        return None
    return len(_PREDS), end + len(b"}]}]")


def scan_triplet_records(buf: Any, need_box_labels: bool = False) -> tuple | None:
    """Read a JSON list of GEN-VLKT / HOICLIP / PPDM HICO-DET records written by
    ``json.dumps`` (keys in their writers' order: filename | file_name, predictions [bbox,
    category_id], hoi_prediction [subject_id, object_id, category_id, score]), or the
    ``preds`` list of GEN-VLKT's ``str({'preds': ..., 'gts': ...})`` turned into JSON.

    Args:
        buf: the file's bytes (``bytes`` or a read-only ``mmap``).
        need_box_labels: return the boxes' ``category_id`` (else -1).

    Returns:
        ``(names, box_counts [I], triplet_counts [I], boxes_xyxy [sum N, 4] float32,
        box_labels [sum N] int64, pair_idx [sum K, 2] int64, category_id [sum K] int64,
        scores [sum K] float32)``, what ``gen_vlkt_files`` builds from the parsed JSON; or
        None when the bytes are not exactly this layout (read them as JSON then).
    """
    bounds = _list_bounds(buf)
    head = bytes(buf[bounds[0]:bounds[0] + 32]) if bounds else b""
    layout = next((lay for lay in LAYOUTS if head.startswith(lay.start)), None)
    if layout is None:
        return None
    names, counts, complete = [], [], False
    batch = _Batch(layout)
    for name, chunk, complete in _records(buf, layout, *bounds):
        if complete:
            chunk = chunk.rstrip(b" \t\n\r")
        skeleton = _skeleton(chunk)
        found = layout.counts(skeleton, complete)
        exponents = found is None  # the template's skeleton has no "e" before , ] or }
        if exponents:
            found = layout.counts(_without_exponents(skeleton), complete)
        if found is None or not batch.add(chunk, *found, complete, exponents):
            return None
        names.append(name)
        counts.append(found)
    if not complete or not batch.flush():  # complete: the last record ended the file
        return None
    return _assemble(names, counts, batch, need_box_labels)


def _assemble(names: list[bytes], counts: list[tuple[int, int]], batch: _Batch,
              need_box_labels: bool) -> tuple | None:
    """The batches' arrays joined, with the image names (None where the JSON reader would
    decode them differently or fail)."""
    joined = b'"'.join(names)
    if joined.translate(None, _NAME_BAD) != joined:
        return None
    try:
        image_ids = tuple(joined.decode("utf-8").split('"')) if names else ()
    except UnicodeDecodeError:
        return None
    sizes = np.array(counts, dtype=np.int64).reshape(-1, 2)
    boxes, box_labels, pair_idx, category, scores = (np.concatenate(c) for c in zip(*batch.parts))
    if not need_box_labels:
        box_labels = np.full(len(boxes), -1, dtype=np.int64)
    return (image_ids, sizes[:, 0], sizes[:, 1], boxes, box_labels, pair_idx, category, scores)


@contextmanager
def mapped(path: Path) -> Iterator[Any]:
    """The file's bytes memory-mapped read-only (no copy of a 200 MB file; ``b""`` if
    empty)."""
    with path.open("rb") as fh:
        if fh.seek(0, 2) == 0:
            yield b""
            return
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            yield buf
