"""Print a label space's classes and splits (shipped name or JSON path)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="shipped label space (hicodet, vcoco, synthetic) or JSON path")
    parser.add_argument("--list", action="store_true", help="also list every interaction class")


def run(args: argparse.Namespace) -> int:
    from openhoi.data.label_space import interaction_names, load_label_space

    space = load_label_space(args.name)
    print(f"label space {space.fingerprint}")
    print(f"  objects       {space.num_objects}")
    print(f"  verbs         {space.num_verbs}")
    print(f"  interactions  {space.num_interactions}")
    print(f"  rare          {len(space.rare_interactions)} (< {space.rare_threshold} training "
          f"instances), non-rare {len(space.non_rare_interactions)}")
    for name, split in sorted(space.zero_shot.items()):
        extra = ""
        if split.unseen_objects:
            extra += f", {len(split.unseen_objects)} unseen objects"
        if split.unseen_verbs:
            extra += f", {len(split.unseen_verbs)} unseen verbs"
        print(f"  zero-shot {name:6s}{len(split.unseen_interactions)} unseen interactions{extra}")
    if args.list:
        for i, text in enumerate(interaction_names(space)):
            rare = " (rare)" if i in set(space.rare_interactions) else ""
            print(f"  {i:4d}  {text}{rare}")
    return 0
