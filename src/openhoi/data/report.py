"""``openhoi data-report``: what a dataset holds and what is wrong with it, before training.

Per split: images (listed, missing, without HOI, dropped as invalid), boxes, pairs and HOI
instances; boxes outside their image (beyond ``box_tolerance``: invalid; within it: clipped)
and empty boxes, measured against the real image sizes; instances whose (verb, object) is not an
interaction class (training would silently ignore them) or whose subject is not the human
class. Over the label space: instances per interaction, verb and object in each split, and the
classes without any training (or test) instance. Files: names listed twice, byte-identical
image files (within a split, and across train and test: a leak).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from openhoi.data.annotations import DatasetLayout, out_of_image, parse_hoi_annotations, read_json
from openhoi.data.label_space_builder import entry_interactions, entry_table
from openhoi.errors import DataError
from openhoi.label_space import LabelSpace, interaction_names

EXAMPLES = 10
"""How many examples each finding lists."""


def _file_hash(path: str) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read(layout: DatasetLayout, space: LabelSpace, tolerance: float) -> tuple[Any, str | None,
                                                                                int]:
    """Annotations (invalid images dropped), the first validation error, images in the file."""
    raw = read_json(layout.annotation_file)
    if not isinstance(raw, list):
        raise DataError(f"{layout.annotation_file}: expected a JSON list of images")
    kwargs = dict(source=str(layout.annotation_file), allow_no_object=layout.allow_no_object,
                  box_tolerance=tolerance)
    try:
        return parse_hoi_annotations(raw, space, **kwargs), None, len(raw)
    except DataError as err:
        return parse_hoi_annotations(raw, space, skip_invalid=True, **kwargs), str(err), len(raw)


def _image_paths(file_names: np.ndarray, image_dirs: tuple[Path, ...]) -> list[str | None]:
    found: dict[str, str] = {}
    for folder in reversed([d for d in image_dirs if d.is_dir()]):  # earlier folders win
        found.update((p.name, str(p)) for p in folder.iterdir())
    return [found.get(str(n)) for n in file_names]


def split_report(layout: DatasetLayout, space: LabelSpace, tolerance: float = 0.02,
                 hash_files: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Findings of one split, and its per-class counts (``interactions``/``verbs``/``objects``).
    """
    from openhoi.data.dataset import read_image_size

    ann, error, num_listed = _read(layout, space, tolerance)
    paths = _image_paths(ann.file_names, layout.image_dirs)
    missing = [str(n) for n, p in zip(ann.file_names, paths) if p is None]
    names, name_counts = np.unique(ann.file_names, return_counts=True)
    out: dict[str, Any] = {
        "annotation_file": str(layout.annotation_file),
        "images_listed": num_listed,
        "images_dropped_invalid": num_listed - len(ann),
        "first_invalid": error,
        "images_missing": len(missing), "missing_examples": missing[:EXAMPLES],
        "images_without_hoi": int((ann.num_entries == 0).sum()),
        "names_listed_twice": [str(n) for n in names[name_counts > 1]][:EXAMPLES],
        "boxes": int(len(ann.labels)), "pairs": int(len(ann.pair_idx)),
        "instances": int(len(ann.hoi_entries)),
    }
    # boxes against the real image sizes
    sizes = np.array([read_image_size(p) if p else (-1, -1) for p in paths],
                     dtype=np.int64).reshape(-1, 2)
    box_img = np.repeat(np.arange(len(ann)), ann.num_boxes)
    known = sizes[box_img, 0] > 0
    h, w = sizes[box_img, 0].astype(np.float64), sizes[box_img, 1].astype(np.float64)
    boxes = ann.boxes_xyxy.astype(np.float64)
    outside = known & out_of_image(boxes, h, w, tolerance)
    overshoot = known & ~outside & ((boxes[:, :2] < 0).any(1) | (boxes[:, 2] > w)
                                    | (boxes[:, 3] > h))
    empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    out["boxes_outside"] = int(outside.sum())
    out["outside_examples"] = [
        {"image": str(ann.file_names[box_img[k]]), "box": int(k - ann.box_offsets[box_img[k]]),
         "bbox": boxes[k].round(1).tolist(), "width_height": [int(w[k]), int(h[k])]}
        for k in np.flatnonzero(outside)[:EXAMPLES]]
    out["boxes_clipped"] = int(overshoot.sum())
    out["boxes_empty"] = int(empty.sum())
    # instances
    table = entry_table(ann)
    inter = entry_interactions(table, space)
    not_class = defaultdict(int)
    for v, o in zip(table.verb[inter < 0], table.object[inter < 0]):
        not_class[f"{space.verbs[v]} {space.objects[o] if o >= 0 else '(no object)'}"] += 1
    out["instances_not_a_class"] = int((inter < 0).sum())
    out["not_a_class_examples"] = dict(sorted(not_class.items(), key=lambda kv: -kv[1])[
        :EXAMPLES])
    out["subject_not_human"] = int((table.subject != space.human_label).sum())
    counts = {
        "interactions": np.bincount(inter[inter >= 0], minlength=space.num_interactions),
        "verbs": np.bincount(table.verb, minlength=space.num_verbs),
        "objects": np.bincount(ann.labels, minlength=space.num_objects),
    }
    out["_hashes"] = ({p: _file_hash(p) for p in paths if p} if hash_files else {})
    return out, counts


def _duplicates(splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Byte-identical image files, within each split and across splits."""
    by_hash: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for split, rep in splits.items():
        for path, digest in rep.pop("_hashes").items():
            by_hash[digest].append((split, path))
    groups = [g for g in by_hash.values() if len(g) > 1]
    cross = [g for g in groups if len({s for s, _ in g}) > 1]
    return {
        "identical_file_groups": len(groups),
        "identical_examples": [[p for _, p in g] for g in groups[:EXAMPLES]],
        "across_splits": len(cross),
        "across_splits_examples": [[f"{s}: {p}" for s, p in g] for g in cross[:EXAMPLES]],
    }


def dataset_report(layout_of: Callable[[str], DatasetLayout], space: LabelSpace,
                   splits: tuple[str, ...] = ("train", "test"), tolerance: float = 0.02,
                   hash_files: bool = True) -> dict[str, Any]:
    """The report of a dataset (JSON-able): per split, per class, duplicates.

    Args:
        layout_of: split name -> its ``DatasetLayout`` (``LAYOUTS[dataset](root, split)``).
        space: the dataset's label space.
        splits: the splits to read; a split whose annotation file is absent is skipped.
        tolerance: see ``DataConfig.box_tolerance``.
        hash_files: look for byte-identical image files (reads every image).
    """
    per_split, counts = {}, {}
    for split in splits:
        layout = layout_of(split)
        if layout.annotation_file.is_file():
            per_split[split], counts[split] = split_report(layout, space, tolerance, hash_files)
    if not per_split:
        raise DataError(f"no annotation file found ({layout_of(splits[0]).annotation_file} ...)")
    names = interaction_names(space)
    rare = set(space.rare_interactions)
    zero = np.zeros(space.num_interactions, dtype=np.int64)
    train = counts.get("train", {}).get("interactions", zero)
    test = counts.get("test", {}).get("interactions", zero)
    computed_rare = {int(i) for i in np.flatnonzero(train < space.rare_threshold)}
    report: dict[str, Any] = {
        "label_space": space.fingerprint,
        "splits": per_split,
        "interactions": [{"name": n, "train": int(a), "test": int(b), "rare": i in rare}
                         for i, (n, a, b) in enumerate(zip(names, train, test))],
        "rare_threshold": space.rare_threshold,
        "rare_differs_from_counts": ("train" in counts and bool(space.rare_interactions)
                                     and computed_rare != rare),
        "duplicates": _duplicates(per_split),
    }
    for split, tag in (("train", "no_training_instances"), ("test", "no_test_instances")):
        if split in counts:
            c = counts[split]
            report[tag] = {
                "interactions": [names[i] for i in np.flatnonzero(c["interactions"] == 0)],
                "verbs": [space.verbs[i] for i in np.flatnonzero(c["verbs"] == 0)],
                "objects": [space.objects[i] for i in np.flatnonzero(c["objects"] == 0)],
            }
    return report


def _listing(items: list[str]) -> str:
    more = f" ... (+{len(items) - EXAMPLES})" if len(items) > EXAMPLES else ""
    return ", ".join(items[:EXAMPLES]) + more


def format_report(report: dict[str, Any]) -> str:
    """The report as text: counts first, then every finding that needs attention."""
    lines = [f"label space {report['label_space']}"]
    for split, r in report["splits"].items():
        lines.append(f"{split}: {r['images_listed']} images ({r['images_without_hoi']} without "
                     f"HOI), {r['boxes']} boxes, {r['pairs']} pairs, {r['instances']} HOI "
                     f"instances  [{r['annotation_file']}]")
        checks = [
            (r["images_dropped_invalid"], "images invalid", r["first_invalid"]),
            (r["images_missing"], "image files missing", _listing(r["missing_examples"])),
            (len(r["names_listed_twice"]), "file names listed twice",
             _listing(r["names_listed_twice"])),
            (r["boxes_outside"], "boxes outside their image",
             "; ".join(f"{e['image']} box {e['box']} {e['bbox']} in {e['width_height']}"
                       for e in r["outside_examples"][:3])),
            (r["boxes_clipped"], "boxes overshoot the border a little (clipped)", ""),
            (r["boxes_empty"], "boxes with zero width or height", ""),
            (r["instances_not_a_class"], "HOI instances whose (verb, object) is not a class "
             "(ignored in training)", _listing([f"{k} x{v}" for k, v in
                                                r["not_a_class_examples"].items()])),
            (r["subject_not_human"], "HOI instances whose subject is not the human class", ""),
        ]
        for n, what, detail in checks:
            if n:
                lines.append(f"  ! {n} {what}" + (f": {detail}" if detail else ""))
    inter = report["interactions"]
    if "train" in report["splits"]:
        train = np.array([i["train"] for i in inter])
        rare = sum(i["rare"] for i in inter)
        lines.append(f"interactions: {len(inter)}, {rare} rare (< {report['rare_threshold']} "
                     f"training instances); training instances per interaction: min "
                     f"{train.min()}, median {int(np.median(train))}, max {train.max()}")
        if report["rare_differs_from_counts"]:
            lines.append("  ! the label space's rare split differs from these training counts "
                         "(rebuild it with `openhoi label-space build`)")
    for tag, what in (("no_training_instances", "without training instances"),
                      ("no_test_instances", "without test instances (not evaluated)")):
        for kind, items in report.get(tag, {}).items():
            if items:
                lines.append(f"  ! {len(items)} {kind} {what}: {_listing(items)}")
    dup = report["duplicates"]
    if dup["identical_file_groups"]:
        lines.append(f"  ! {dup['identical_file_groups']} groups of byte-identical image files: "
                     + "; ".join(" = ".join(g) for g in dup["identical_examples"][:3]))
    if dup["across_splits"]:
        lines.append(f"  ! {dup['across_splits']} images are in more than one split (test "
                     "leaks into training): " + "; ".join(
                         " = ".join(g) for g in dup["across_splits_examples"][:3]))
    return "\n".join(lines)


def plot_report(report: dict[str, Any], path: str | Path) -> None:
    """Training and test instances per interaction (sorted by training count, log scale), with
    the rare threshold; classes without training instances drawn at the axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inter = report["interactions"]
    train = np.array([i["train"] for i in inter], dtype=float)
    test = np.array([i["test"] for i in inter], dtype=float)
    order = np.argsort(-train, kind="stable")
    x = np.arange(len(inter))
    fig, ax = plt.subplots(figsize=(max(6.0, min(16.0, 0.25 * len(inter) + 3)), 4.5), dpi=120)
    rare = np.array([i["rare"] for i in inter], dtype=bool)[order]
    colors = np.where(rare, "tab:orange", "tab:blue")
    ax.bar(x, np.maximum(train[order], 0.8), color=colors, label="train (orange: rare)")
    ax.plot(x, np.maximum(test[order], 0.8), "k.", label="test")
    ax.axhline(report["rare_threshold"], color="tab:red", lw=1, ls="--",
               label=f"rare threshold ({report['rare_threshold']})")
    ax.set_yscale("log")
    ax.set_ylabel("HOI instances")
    ax.set_title(f"{report['label_space']}: instances per interaction")
    if len(inter) <= 60:
        ax.set_xticks(x, [inter[i]["name"] for i in order], rotation=70, ha="right",
                      fontsize=7)
    else:
        ax.set_xlabel("interactions, by training instances")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
