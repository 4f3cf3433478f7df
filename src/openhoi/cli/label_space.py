"""Print a label space's classes and splits (shipped name or JSON path), or build one for your
own dataset:

  openhoi label-space hicodet --list
  openhoi label-space build --train train.csv --objects objects.txt --verbs verbs.txt \
      --out kitchen/label_space.json            (see `openhoi label-space build -h`)
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("name", help="shipped label space (hicodet, vcoco, synthetic) or JSON "
                        "path; or 'build' to build one (`openhoi label-space build -h`)")
    parser.add_argument("--list", action="store_true", help="also list every interaction class")
    parser.add_argument("build_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``openhoi label-space build``."""
    p = argparse.ArgumentParser(
        prog="openhoi label-space build",
        description="Build a label space (JSON) for your own dataset from class lists and the "
        "training annotations: interaction classes, rare/non-rare split (HICO-DET rule: fewer "
        "than --rare-threshold training instances), optional zero-shot splits. See "
        "docs/custom_dataset.md.")
    p.add_argument("--train", nargs="+", required=True, metavar="FILE",
                   help="training annotations: interchange CSV(s) or HICO-DET-layout json(s)")
    p.add_argument("--out", required=True, help="label space JSON to write")
    p.add_argument("--name", help="short dataset id, part of the fingerprint checkpoints store "
                   "(default: --out's file name, or its folder's for label_space.json)")
    p.add_argument("--objects", help="object classes: .txt (one per line, ids 1, 2, ... in "
                   "order) or .csv (name[,id]); default for CSV input: the names used, "
                   "--human first then alphabetical")
    p.add_argument("--verbs", help="verb classes: .txt or .csv (name[,id][,ing]); default for "
                   "CSV input: the names used, alphabetical")
    p.add_argument("--interactions", help="interaction classes in order: CSV with verb,object"
                   "[,phrase] (empty object: no object); default: every (verb, object) pair of "
                   "the training annotations, by object then verb")
    p.add_argument("--no-object-verbs", default="", metavar="V1,V2",
                   help="verbs that may have no object (each gets an objectless interaction)")
    p.add_argument("--human", default="person", help="the human object class (default person)")
    p.add_argument("--rare-threshold", type=int, default=10,
                   help="rare = fewer training instances than this (default 10, HICO-DET's)")
    p.add_argument("--zero-shot", action="append", default=[], metavar="KIND=VALUE",
                   help="add a zero-shot split: rf_uc=N (N rarest interactions unseen), nf_uc=N "
                   "(N most frequent), uo=OBJ,OBJ (unseen objects), uv=VERB,VERB (unseen verbs)")
    p.add_argument("--description", default="", help="free text stored in the JSON")
    p.add_argument("--skip-invalid", action="store_true",
                   help="drop malformed training images instead of failing")
    return p


def run(args: argparse.Namespace) -> int:
    if args.name == "build":
        return run_build(build_parser().parse_args(args.build_args))
    from openhoi.label_space import load_label_space

    # options after NAME land in build_args (argparse.REMAINDER): parse them as the show options
    show = argparse.ArgumentParser(prog=f"openhoi label-space {args.name}")
    show.add_argument("--list", action="store_true")
    print_summary(load_label_space(args.name), args.list or show.parse_args(args.build_args).list)
    return 0


def _sources(args: argparse.Namespace):
    """Class lists and training sources of ``label-space build``."""
    from openhoi.data.annotations import read_json
    from openhoi.data.class_lists import ClassEntry, read_class_list
    from openhoi.data.custom import csv_class_names, csv_to_source
    from openhoi.data.label_space_builder import AnnotationSource
    from openhoi.errors import ConfigError

    paths = [Path(p) for p in args.train]
    csvs = [p for p in paths if p.suffix.lower() == ".csv"]
    if (args.objects is None or args.verbs is None) and len(csvs) != len(paths):
        raise ConfigError("json annotations carry class ids, not names: give --objects and "
                          "--verbs (with the ids your files use)")
    default_objects, default_verbs = (csv_class_names(csvs, args.human) if csvs
                                      else ([], []))
    objects = (read_class_list(args.objects, "object") if args.objects else
               [ClassEntry(n, k + 1) for k, n in enumerate(default_objects)])
    verbs = (read_class_list(args.verbs, "verb") if args.verbs else
             [ClassEntry(n, k + 1) for k, n in enumerate(default_verbs)])
    object_ids = {o.name: o.id for o in objects}
    verb_ids = {v.name: v.id for v in verbs}
    sources = []
    for p in paths:
        if p.suffix.lower() == ".csv":
            sources.append(csv_to_source(p, object_ids, verb_ids, args.human).source)
        else:
            sources.append(AnnotationSource(str(p), read_json(p)))
    return objects, verbs, sources


def run_build(args: argparse.Namespace) -> int:
    import json

    from openhoi.data.class_lists import read_interaction_list
    from openhoi.data.label_space_builder import build_label_space
    from openhoi.errors import ConfigError

    zero_shot = {}
    for item in args.zero_shot:
        kind, sep, value = item.partition("=")
        if not sep or not value:
            raise ConfigError(f"--zero-shot {item!r}: expected KIND=VALUE (rf_uc=20, uo=kayak)")
        zero_shot[kind.strip()] = value.strip()
    objects, verbs, sources = _sources(args)
    out = Path(args.out)
    # datasets/kitchen/label_space.json -> kitchen; kitchen_classes.json -> kitchen_classes
    name = args.name or (out.resolve().parent.name if out.stem == "label_space" else out.stem)
    space = build_label_space(
        name, objects, verbs, sources, human=args.human,
        interactions=read_interaction_list(args.interactions) if args.interactions else None,
        no_object_verbs=[v.strip() for v in args.no_object_verbs.split(",") if v.strip()],
        rare_threshold=args.rare_threshold, zero_shot=zero_shot, description=args.description,
        skip_invalid=args.skip_invalid)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(space.to_json_dict(), indent=1))
    print_summary(space, True)
    counts = space.extra["train_counts"]
    empty = [i for i, c in enumerate(counts) if c == 0]
    if empty:
        from openhoi.label_space import interaction_names

        print(f"  {len(empty)} interactions have no training instance: "
              f"{', '.join(interaction_names(space, empty)[:10])}")
    print(f"wrote {out}")
    return 0


def print_summary(space, list_all: bool = False) -> None:
    """The sizes and splits of a label space; with ``list_all`` every interaction too."""
    from openhoi.label_space import interaction_names

    print(f"label space {space.fingerprint}")
    print(f"  objects       {space.num_objects}")
    print(f"  verbs         {space.num_verbs}")
    print(f"  interactions  {space.num_interactions}")
    if space.objectless_interactions:
        print(f"  objectless    {len(space.objectless_interactions)} (interactions without an "
              "object)")
    if space.rare_interactions:
        print(f"  rare          {len(space.rare_interactions)} (< {space.rare_threshold} training "
              f"instances), non-rare {len(space.non_rare_interactions)}")
    for name, split in sorted(space.zero_shot.items()):
        extra = ""
        if split.unseen_objects:
            extra += f", {len(split.unseen_objects)} unseen objects"
        if split.unseen_verbs:
            extra += f", {len(split.unseen_verbs)} unseen verbs"
        print(f"  zero-shot {name:6s}{len(split.unseen_interactions)} unseen interactions{extra}")
    low_data = space.extra.get("low_data")
    if low_data:
        fractions = ", ".join(f"{f:g}" for f in low_data["fractions"])
        print(f"  low-data      fractions of training {low_data['unit']}s: {fractions} "
              f"(seed {low_data['seed']})")
    official = space.extra.get("vcoco_official")
    if official:
        roles = sum(len(a["roles"]) - 1 for a in official["actions"])
        print(f"  V-COCO eval   {len(official['actions'])} actions, {roles} (action, role) pairs "
              "with an object role")
    if list_all:
        rare = set(space.rare_interactions)
        counts = space.extra.get("train_counts")
        for i, (text, phrase) in enumerate(zip(interaction_names(space),
                                               space.interaction_phrases)):
            n = f"{counts[i]:7d} " if counts else ""
            print(f"  {i:4d}  {n}{text:32s} {phrase}{' (rare)' if i in rare else ''}")
