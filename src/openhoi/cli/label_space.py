"""Print a label space's classes and splits (shipped name or JSON path)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="shipped label space (hicodet, vcoco, synthetic) or JSON path")
    parser.add_argument("--list", action="store_true", help="also list every interaction class")


def run(args: argparse.Namespace) -> int:
    from openhoi.label_space import interaction_names, load_label_space

    space = load_label_space(args.name)
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
    if args.list:
        rare = set(space.rare_interactions)
        for i, (text, phrase) in enumerate(zip(interaction_names(space),
                                               space.interaction_phrases)):
            print(f"  {i:4d}  {text:32s} {phrase}{' (rare)' if i in rare else ''}")
    return 0
