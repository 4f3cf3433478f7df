"""The synthetic HOI benchmark: seeded images whose interactions are visible in the geometry.

``generate_synthetic`` writes a dataset in the HICO-DET layout (``openhoi.data.hicodet``) over
the shipped ``synthetic`` label space, so the HICO-DET reader, evaluator and every training path
run on it. It is the project's test and demo data: small images (128-208 px), one to three
stick-figure humans, each posed by its interaction with one object:

    hold X       front hand forward at chest height, X in the hand (ball, kite, cup)
    kick ball    front foot forward and up, ball at the foot
    throw ball   front hand above the head, ball in the air just above it
    fly kite     front hand raised, kite high up on a line from the hand
    drink_with   cup at the mouth (also labelled ``hold``: two verbs on one pair)
    sit_on       sitting on the chair
    carry        both hands above the head, chair on them
    no_inter.    standing, arms down, object on the ground a short way off

plus unannotated distractor objects kept well away from everyone, on a noisy sky-and-ground
background. Rare interactions of the label space appear fewer than ``rare_threshold`` times in
the train split; the test split draws all interactions evenly. Output is byte-identical for a
given (seed, number of images, test fraction).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from openhoi.data.hicodet import CORRESPONDENCE_FILE, SPLITS
from openhoi.data.synthetic_scene import (
    SKIN,
    Entity,
    Prim,
    background,
    ball,
    chair,
    cup,
    human,
    kite,
    random_color,
)
from openhoi.errors import DataError
from openhoi.label_space import LabelSpace, load_label_space

EXTRA_VERBS = {("drink_with", "cup"): ("hold",)}
"""Verbs that always accompany an interaction's pose (the drinking hand holds the cup)."""


@dataclass(frozen=True)
class SyntheticSummary:
    """What ``generate_synthetic`` wrote: image counts and per-interaction pair counts."""

    root: Path
    num_train: int
    num_test: int
    train_counts: dict[str, int]
    test_counts: dict[str, int]


def _make_object(rng: np.random.Generator, name: str, hp: float, facing: int) -> Entity:
    """An object of class ``name`` sized for a human of height ``hp``, resting on y = 0."""
    if name == "sports ball":
        r = rng.uniform(0.06, 0.08) * hp
        ent = ball(r, random_color(rng, val=(0.7, 1.0)))
        ent.shift(0, -r)
    elif name == "kite":
        hw = rng.uniform(0.10, 0.13) * hp
        ent = kite(hw, 1.4 * hw, random_color(rng))
        ent.shift(0, -1.4 * hw)
    elif name == "cup":
        w = rng.uniform(0.10, 0.13) * hp
        ent = cup(w, 1.15 * w, random_color(rng, (0.2, 0.7), (0.7, 1.0)), handle=-facing)
    elif name == "chair":
        ent = chair(rng.uniform(0.30, 0.36) * hp, 0.26 * hp, rng.uniform(0.25, 0.32) * hp,
                    random_color(rng, (0.3, 0.8), (0.3, 0.7)), facing)
    else:
        raise DataError(f"the synthetic generator cannot draw object {name!r}")
    return ent


def _move_to(ent: Entity, anchor: np.ndarray, target: np.ndarray) -> None:
    ent.shift(*(target - anchor))


def make_pair(rng: np.random.Generator, verb: str, obj: str, hp: float
              ) -> tuple[Entity, Entity, bool]:
    """Human and object posed for (verb, obj), ground at y = 0; and whether the object is
    drawn in front of the human."""
    facing = 1 if rng.uniform() < 0.5 else -1
    pose = {"hold": "hold", "kick": "kick", "throw": "raise", "fly": "raise",
            "drink_with": "drink", "sit_on": "sit", "carry": "carry"}.get(verb, "stand")
    person = human(hp, facing, pose, random_color(rng), SKIN[int(rng.integers(len(SKIN)))])
    thing = _make_object(rng, obj, hp, facing)
    box = thing.box()
    half_w, half_h = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    hand, f = person.anchors["hand"], facing
    if verb == "no_interaction":  # on the ground, a short way off on the facing side
        edge = person.box()[2] if f > 0 else person.box()[0]
        gap = rng.uniform(0.2, 0.5) * hp
        thing.shift(edge + f * (gap + half_w) - centre[0], 0)
    elif verb == "hold" and obj == "kite":  # hand at the kite's near corner
        _move_to(thing, centre, hand + np.array([f * half_w, 0.25 * half_h]))
    elif verb == "hold":
        _move_to(thing, centre, hand + np.array([f * 0.7 * half_w, 0]))
    elif verb == "kick":
        _move_to(thing, centre, person.anchors["foot"] + np.array([f * 0.9 * half_w, 0]))
    elif verb == "throw":
        _move_to(thing, centre, hand + np.array([f * 0.05 * hp, -(half_h + 0.10 * hp)]))
    elif verb == "fly":
        target = hand + np.array([f * rng.uniform(0.4, 0.7), -rng.uniform(0.4, 0.65)]) * hp
        _move_to(thing, centre, target)
        line = np.stack([hand, thing.anchors["bottom"]])
        thing.prims.append(Prim("line", line, (60, 60, 60), width=1.0, in_box=False))
    elif verb == "drink_with":
        _move_to(thing, centre, person.anchors["mouth"] + np.array([f * 0.9 * half_w, 0]))
    elif verb == "sit_on":  # hips on the seat, feet on the floor
        person.shift(f * -0.04 * hp, -0.26 * hp)
    elif verb == "carry":  # chair legs resting on the raised hands
        thing.shift(0, hand[1])
    else:
        raise DataError(f"the synthetic generator has no pose for ({verb!r}, {obj!r})")
    return person, thing, verb not in ("sit_on", "carry")


@dataclass(frozen=True)
class SceneRules:
    """How a benchmark draws: ``make_pair(rng, verb, obj, hp) -> (human, object, in front)``,
    ``make_object(rng, name, hp, facing) -> Entity``, verbs that always accompany a pose, and
    objects whose distractors float in the sky."""

    make_pair: Callable[..., tuple[Entity, Entity, bool]]
    make_object: Callable[..., Entity]
    extra_verbs: dict[tuple[str, str], tuple[str, ...]]
    sky_objects: frozenset[str] = frozenset({"kite"})


DEFAULT_RULES = SceneRules(make_pair, _make_object, EXTRA_VERBS)
"""The original benchmark's drawing rules."""


class _InteractionDeck:
    """Draws interactions: non-rare ones in shuffled rounds (even counts); rare ones, in the
    train split, now and then until ``cap`` pairs each."""

    def __init__(self, rng: np.random.Generator, space: LabelSpace, train: bool):
        self.rng, self.train = rng, train
        self.rare = set(space.rare_interactions) if train else set()
        self.common = [i for i in range(space.num_interactions) if i not in self.rare]
        self.cap = space.rare_threshold - 1
        self.counts: Counter[int] = Counter()
        self.queue: list[int] = []

    def draw(self) -> int:
        open_rare = [i for i in sorted(self.rare) if self.counts[i] < self.cap]
        if open_rare and self.rng.uniform() < 0.04 * len(open_rare):
            choice = open_rare[int(self.rng.integers(len(open_rare)))]
        else:
            if not self.queue:
                self.queue = [self.common[k] for k in self.rng.permutation(len(self.common))]
            choice = self.queue.pop()
        self.counts[choice] += 1
        return choice

    def give_back(self, choice: int) -> None:
        """Undo a ``draw`` whose pair did not fit; it comes out next."""
        self.counts[choice] -= 1
        if choice not in self.rare:
            self.queue.append(choice)


def _overlaps(box: np.ndarray, others: list[np.ndarray], margin: float) -> bool:
    return any(box[0] < o[2] + margin and o[0] < box[2] + margin and box[1] < o[3] + margin
               and o[1] < box[3] + margin for o in others)


def _place(rng: np.random.Generator, ents: list[Entity], width: int, height: int,
           ground: tuple[float, float], taken: list[np.ndarray], margin: float) -> bool:
    """Shift ``ents`` (ground at y = 0) to a random free spot inside the image."""
    ext = np.array([e.extent() for e in ents])
    lo, hi = ext[:, :2].min(0), ext[:, 2:].max(0)
    for _ in range(30):
        x_lo, x_hi = 1 - lo[0], width - 1 - hi[0]
        y_lo, y_hi = max(ground[0], 1 - lo[1]), min(ground[1], height - 1 - hi[1])
        if x_lo > x_hi or y_lo > y_hi:
            return False
        dx, dy = rng.uniform(x_lo, x_hi), rng.uniform(y_lo, y_hi)
        box = np.concatenate([lo + (dx, dy), hi + (dx, dy)])
        if not _overlaps(box, taken, margin):
            for e in ents:
                e.shift(dx, dy)
            taken.append(box)
            return True
    return False


def render_image(rng: np.random.Generator, space: LabelSpace, deck: _InteractionDeck,
                 rules: SceneRules | None = None) -> tuple[Image.Image, dict]:
    """One image and its annotation entry (without ``file_name``/``img_id``)."""
    rules = rules or DEFAULT_RULES
    width, height = int(rng.integers(144, 209)), int(rng.integers(128, 177))
    pixels, horizon = background(rng, height, width)
    ground = (horizon + 0.15 * (height - horizon), height - 2.0)
    groups: list[tuple[Entity, Entity, bool, int]] = []
    taken: list[np.ndarray] = []
    for _ in range(int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))):
        inter = deck.draw()
        verb_idx, obj_idx = space.interactions[inter]
        verb, obj = space.verbs[verb_idx], space.objects[obj_idx]
        for hp in rng.uniform(0.40, 0.58) * height * np.array([1.0, 0.75]):
            person, thing, front = rules.make_pair(rng, verb, obj, hp)
            if _place(rng, [person, thing], width, height, ground, taken, margin=3.0):
                groups.append((person, thing, front, inter))
                break
        else:
            deck.give_back(inter)
    if not groups:  # nothing fitted (rare): try a fresh layout
        return render_image(rng, space, deck, rules)
    keep_away = [g[0].box() + 0.45 * height * np.array([-1, -1, 1, 1]) for g in groups]
    distractors: list[tuple[Entity, int]] = []
    objects = [i for i in range(space.num_objects) if i != space.human_label]
    for _ in range(int(rng.integers(0, 3))):
        label = objects[int(rng.integers(len(objects)))]
        thing = rules.make_object(rng, space.objects[label], rng.uniform(0.40, 0.58) * height,
                                  1)
        in_sky = space.objects[label] in rules.sky_objects
        band = (horizon * 0.3, horizon * 0.8) if in_sky else ground
        if _place(rng, [thing], width, height, band, taken + keep_away, margin=3.0):
            distractors.append((thing, label))

    image = Image.fromarray(pixels)
    canvas = ImageDraw.Draw(image)
    for thing, _ in distractors:
        thing.draw(canvas)
    for person, thing, front, _ in sorted(groups, key=lambda g: g[0].box()[3]):
        order = [person, thing] if front else [thing, person]
        for ent in order:
            ent.draw(canvas)

    boxes, hois = [], []
    for person, thing, _, inter in groups:
        h_id, o_id = len(boxes), len(boxes) + 1
        boxes += [(person, space.human_label), (thing, space.interactions[inter][1])]
        verb_idx, obj_idx = space.interactions[inter]
        verbs = [space.verbs[verb_idx], *rules.extra_verbs.get(
            (space.verbs[verb_idx], space.objects[obj_idx]), ())]
        for verb in verbs:
            v = space.verbs.index(verb)
            hois.append({"subject_id": h_id, "object_id": o_id,
                         "category_id": space.verb_ids[v],
                         "hoi_category_id": space.interaction_index(v, obj_idx) + 1})
    boxes += distractors
    annotations = [{"bbox": _int_box(ent.box(), width, height),
                    "category_id": space.object_ids[label]} for ent, label in boxes]
    return image, {"annotations": annotations, "hoi_annotation": hois}


def _int_box(box: np.ndarray, width: int, height: int) -> list[int]:
    """Integer pixel box (floor the top-left, ceil the bottom-right), clipped to the image."""
    x1, y1 = np.floor(box[:2]).astype(int)
    x2, y2 = np.ceil(box[2:]).astype(int)
    return [int(max(x1, 0)), int(max(y1, 0)), int(min(x2, width)), int(min(y2, height))]


def _write_split(rng: np.random.Generator, space: LabelSpace, root: Path, split: str,
                 num_images: int, rules: SceneRules | None = None) -> Counter[str]:
    """Render one split's images and JSON; returns pair counts per interaction name."""
    ann_name, folder = SPLITS[split]
    image_dir = root / "images" / folder
    image_dir.mkdir(parents=True, exist_ok=True)
    deck = _InteractionDeck(rng, space, train=split == "train")
    entries = []
    for k in range(num_images):
        image, entry = render_image(rng, space, deck, rules)
        file_name = f"synthetic_{split}_{k + 1:08d}.jpg"
        image.save(image_dir / file_name, format="JPEG", quality=92)
        entries.append({"file_name": file_name, "img_id": k + 1, **entry})
    (root / "annotations" / ann_name).write_text(json.dumps(entries))
    names = [f"{space.verbs[v]} {space.objects[o]}" for v, o in space.interactions]
    return Counter(names[h["hoi_category_id"] - 1] for e in entries for h in e["hoi_annotation"])


def generate_synthetic(out: str | Path, num_images: int, seed: int = 0,
                       test_fraction: float = 0.25, overwrite: bool = False,
                       semantic: bool = False) -> SyntheticSummary:
    """Write the synthetic benchmark under ``out`` in the HICO-DET layout.

    Args:
        out: dataset root (created); ``annotations/`` and ``images/`` go inside.
        num_images: total images; ``round(num_images * test_fraction)`` go to the test split
            (at least one each when ``num_images >= 2``).
        seed: everything drawn derives from it; same arguments give byte-identical files.
        test_fraction: share of test images, in [0, 1).
        overwrite: replace an existing synthetic dataset at ``out``.
        semantic: the semantic benchmark (``openhoi.data.synthetic_semantic``: objects built
            from shared visual attributes, label space ``synthetic_semantic``) instead of the
            original one (whose files stay byte-identical for a seed).

    Returns:
        counts of what was written. About 80 train images give every non-rare interaction
        at least ``rare_threshold`` training pairs.
    """
    if num_images < 1 or not 0.0 <= test_fraction < 1.0:
        raise DataError(f"make-synthetic: need --images >= 1 and 0 <= --test-fraction < 1, got "
                        f"{num_images} and {test_fraction}")
    if semantic:
        from openhoi.data.synthetic_semantic import SEMANTIC_RULES

        space, rules = load_label_space("synthetic_semantic"), SEMANTIC_RULES
    else:
        space, rules = load_label_space("synthetic"), DEFAULT_RULES
    root = Path(out)
    ann_dir = root / "annotations"
    if (ann_dir / SPLITS["train"][0]).exists():
        if not overwrite:
            raise DataError(f"{root}: already holds a dataset (use --overwrite to replace it)")
        for _, folder in SPLITS.values():
            shutil.rmtree(root / "images" / folder, ignore_errors=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    num_test = int(round(num_images * test_fraction))
    if num_images >= 2 and test_fraction > 0:
        num_test = min(max(num_test, 1), num_images - 1)
    rng = np.random.default_rng(seed)
    train = _write_split(rng, space, root, "train", num_images - num_test, rules)
    test = _write_split(rng, space, root, "test", num_test, rules)
    np.save(ann_dir / CORRESPONDENCE_FILE, space.correspondence.numpy().astype(np.float32))
    return SyntheticSummary(root, num_images - num_test, num_test, dict(train), dict(test))
