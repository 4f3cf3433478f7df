"""The semantic synthetic benchmark: objects built from shared visual attributes, verbs from
shared poses, names whose meaning follows the drawing, and zero-shot splits that a text
embedding can bridge (``openhoi make-synthetic --semantic``; label space
``synthetic_semantic``).

Objects come in four families of three; members of a family share most attributes, and their
names are close in the all-MiniLM-L6-v2 sentence space (each unseen object's nearest seen
object is its family's, ``tests/data/test_synthetic_semantic.py`` checks it on the real
weights):

    round things   ball (round, seam), orange (round, orange, stem), apple (round, red, stem, leaf)
    drinkware      cup (cylinder, handle), mug (wide cylinder, handle), jug (tall, handle, spout)
    seats          chair (plank, legs, back), stool (plank, legs, rung), bench (long plank, legs)
    wheeled        cart (box, 2 wheels, bar), wagon (large box, 2 large wheels, bar),
                   wheelbarrow (tapered box, 1 wheel, handles)

Verbs are poses of the stick figure: hold (hand forward), throw (hand above the head, object
above it), kick (foot forward), eat and drink_with (hand at the mouth: one pose, two verbs,
told apart by the object; both also hold), sit_on, carry (both hands above the head), push
(both hands forward at the hip, object on the ground in front), no_interaction (standing).

Zero-shot splits: ``uo`` hides one object per family (apple, mug, stool, wagon: every pair with
them is removed from training), ``uc`` hides combinations of seen verbs and seen objects (throw
ball, eat orange, drink_with jug, sit_on bench, push wheelbarrow), ``uv`` the verb eat.
The layout, placement and file format are those of ``openhoi.data.synthetic`` (same
``generate_synthetic``, with ``semantic=True``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from openhoi.data.synthetic import SceneRules
from openhoi.data.synthetic_scene import (
    SKIN,
    Color,
    Entity,
    Prim,
    ball,
    cup,
    darker,
    human,
    random_color,
)
from openhoi.errors import DataError


@dataclass(frozen=True)
class ObjectKind:
    """One object class: its family, visual attributes, size and colour."""

    family: str
    attributes: tuple[str, ...]
    size: tuple[float, float]  # main dimension, fraction of the human height
    color: Color | None = None  # base colour (jittered), None = random


OBJECTS: dict[str, ObjectKind] = {
    "ball": ObjectKind("round", ("round", "small", "seam"), (0.06, 0.08)),
    "orange": ObjectKind("round", ("round", "small", "orange", "stem"), (0.06, 0.075),
                         (240, 140, 30)),
    "apple": ObjectKind("round", ("round", "small", "red", "stem", "leaf"), (0.06, 0.075),
                        (200, 35, 35)),
    "cup": ObjectKind("drinkware", ("cylinder", "small", "handle"), (0.10, 0.12)),
    "mug": ObjectKind("drinkware", ("cylinder", "small", "handle", "wide"), (0.12, 0.14)),
    "jug": ObjectKind("drinkware", ("cylinder", "handle", "tall", "spout"), (0.11, 0.13)),
    "chair": ObjectKind("seat", ("plank", "legs", "back"), (0.28, 0.32)),
    "stool": ObjectKind("seat", ("plank", "legs", "rung"), (0.20, 0.24)),
    "bench": ObjectKind("seat", ("plank", "legs", "long"), (0.50, 0.58)),
    "cart": ObjectKind("wheeled", ("box", "wheels", "bar"), (0.30, 0.34)),
    "wagon": ObjectKind("wheeled", ("box", "wheels", "bar", "large"), (0.40, 0.46)),
    "wheelbarrow": ObjectKind("wheeled", ("box", "wheels", "handles", "tapered"), (0.34, 0.40)),
}
"""The object classes (besides ``person``) in label-space order."""

INTERACTIONS: dict[str, tuple[str, ...]] = {
    "ball": ("hold", "throw", "kick", "no_interaction"),
    "orange": ("hold", "throw", "eat", "no_interaction"),
    "apple": ("hold", "throw", "eat", "no_interaction"),
    "cup": ("hold", "drink_with", "no_interaction"),
    "mug": ("hold", "drink_with", "no_interaction"),
    "jug": ("hold", "drink_with", "no_interaction"),
    "chair": ("sit_on", "carry", "no_interaction"),
    "stool": ("sit_on", "carry", "no_interaction"),
    "bench": ("sit_on", "no_interaction"),
    "cart": ("push", "no_interaction"),
    "wagon": ("push", "no_interaction"),
    "wheelbarrow": ("push", "no_interaction"),
}
"""Verbs of each object (the affordances of its family)."""

VERBS: dict[str, tuple[str, str]] = {  # verb -> (participle, pose)
    "hold": ("holding", "hold"), "throw": ("throwing", "raise"), "kick": ("kicking", "kick"),
    "eat": ("eating", "drink"), "drink_with": ("drinking with", "drink"),
    "sit_on": ("sitting on", "sit"), "carry": ("carrying", "carry"),
    "push": ("pushing", "push"), "no_interaction": ("and", "stand"),
}

EXTRA_VERBS = {(v, o): ("hold",) for o, vs in INTERACTIONS.items() for v in vs
               if v in ("eat", "drink_with")}
"""The hand at the mouth holds what it eats or drinks with."""

ZERO_SHOT = {
    "uo": {"unseen_objects": ("apple", "mug", "stool", "wagon")},
    "uc": {"unseen": (("throw", "ball"), ("eat", "orange"), ("drink_with", "jug"),
                      ("sit_on", "bench"), ("push", "wheelbarrow"))},
    "uv": {"unseen_verbs": ("eat",)},
}


def _jitter(rng: np.random.Generator, c: Color, amount: int = 25) -> Color:
    return tuple(int(np.clip(v + rng.integers(-amount, amount + 1), 0, 255)) for v in c)


def _round(rng: np.random.Generator, kind: ObjectKind, hp: float) -> Entity:
    r = rng.uniform(*kind.size) * hp
    color = _jitter(rng, kind.color) if kind.color else random_color(rng, val=(0.7, 1.0))
    ent = ball(r, color) if "seam" in kind.attributes else Entity([
        Prim("ellipse", np.array([[-r, -r], [r, r]]), color, outline=darker(color))])
    if "stem" in kind.attributes:
        ent.prims.append(Prim("line", np.array([[0, -r], [0.1 * r, -1.35 * r]]), (90, 60, 30),
                              width=max(1.0, 0.2 * r)))
    if "leaf" in kind.attributes:
        ent.prims.append(Prim("ellipse", np.array([[0.1 * r, -1.45 * r], [0.7 * r, -1.1 * r]]),
                              (50, 150, 50)))
    ent.shift(0, -r)
    return ent


def _drinkware(rng: np.random.Generator, kind: ObjectKind, hp: float, facing: int) -> Entity:
    w = rng.uniform(*kind.size) * hp
    h = w * (1.6 if "tall" in kind.attributes else 0.85 if "wide" in kind.attributes else 1.15)
    color = random_color(rng, (0.2, 0.7), (0.5, 1.0) if "wide" in kind.attributes
                         else (0.7, 1.0))
    ent = cup(w, h, color, handle=-facing)
    if "spout" in kind.attributes:
        x = facing * w / 2
        ent.prims.append(Prim("polygon", np.array([[x, -h], [x + facing * 0.3 * w, -1.08 * h],
                                                   [x, -0.85 * h]]), darker(color)))
    return ent


def _seat(rng: np.random.Generator, kind: ObjectKind, hp: float, facing: int) -> Entity:
    seat_w, seat_h = rng.uniform(*kind.size) * hp, 0.26 * hp
    color = random_color(rng, (0.3, 0.8), (0.3, 0.7))
    t = max(2.0, 0.12 * seat_h)
    back_x, front_x = -facing * seat_w / 2, facing * seat_w / 2
    dark = darker(color, 0.7)
    prims = [Prim("line", np.array([[x, 0], [x, -seat_h]]), dark if x == front_x else color,
                  width=t * (0.7 if "rung" in kind.attributes else 1.0))
             for x in (back_x, front_x)]
    prims.append(Prim("line", np.array([[back_x, -seat_h], [front_x, -seat_h]]), color,
                      width=1.3 * t))
    if "back" in kind.attributes:
        prims.append(Prim("line", np.array([[back_x, -seat_h], [back_x, -seat_h - 0.28 * hp]]),
                          color, width=t))
    if "rung" in kind.attributes:
        prims.append(Prim("line", np.array([[back_x, -0.4 * seat_h], [front_x, -0.4 * seat_h]]),
                          dark, width=t / 2))
    return Entity(prims, {"seat": np.array([0.0, -seat_h])})


def _wheeled(rng: np.random.Generator, kind: ObjectKind, hp: float, facing: int) -> Entity:
    bw = rng.uniform(*kind.size) * hp
    bh, wheel_r = 0.45 * bw, (0.13 if "large" in kind.attributes else 0.10) * bw * 1.6
    color = random_color(rng, (0.4, 0.9), (0.4, 0.9))
    base = 1.4 * wheel_r  # box bottom above the ground
    near, far = -facing * bw / 2, facing * bw / 2  # the human pushes from the near side
    if "tapered" in kind.attributes:
        body = np.array([[near, -base - bh], [far, -base - bh], [far - facing * 0.25 * bw, -base],
                         [near + facing * 0.1 * bw, -base]])
        wheels = [far - facing * 0.15 * bw]
    else:
        body = np.array([[near, -base - bh], [far, -base - bh], [far, -base], [near, -base]])
        wheels = [near + facing * 0.25 * bw, far - facing * 0.25 * bw]
    prims = [Prim("polygon", body, color, outline=darker(color))]
    for x in wheels:
        prims.append(Prim("ellipse", np.array([[x - wheel_r, -2 * wheel_r], [x + wheel_r, 0]]),
                          (40, 40, 40), outline=(10, 10, 10)))
    grip = np.array([near - facing * 0.25 * bw, -base - (1.3 if "bar" in kind.attributes
                                                         else 0.6) * bh])
    prims.append(Prim("line", np.array([[near, -base - 0.6 * bh], grip]), darker(color, 0.4),
                      width=max(1.5, 0.05 * bw)))
    return Entity(prims, {"grip": grip})


def make_object(rng: np.random.Generator, name: str, hp: float, facing: int) -> Entity:
    """An object of class ``name`` for a human of height ``hp``, resting on y = 0."""
    kind = OBJECTS.get(name)
    if kind is None:
        raise DataError(f"the semantic synthetic generator cannot draw object {name!r}")
    if kind.family == "round":
        return _round(rng, kind, hp)
    if kind.family == "drinkware":
        return _drinkware(rng, kind, hp, facing)
    if kind.family == "seat":
        return _seat(rng, kind, hp, facing)
    return _wheeled(rng, kind, hp, facing)


def make_pair(rng: np.random.Generator, verb: str, obj: str, hp: float
              ) -> tuple[Entity, Entity, bool]:
    """Human and object posed for (verb, obj), ground at y = 0; and whether the object is
    drawn in front of the human."""
    if verb not in VERBS or verb not in INTERACTIONS.get(obj, ()):
        raise DataError(f"the semantic generator has no pose for ({verb!r}, {obj!r})")
    facing = 1 if rng.uniform() < 0.5 else -1
    person = human(hp, facing, VERBS[verb][1], random_color(rng),
                   SKIN[int(rng.integers(len(SKIN)))])
    thing = make_object(rng, obj, hp, facing)
    box = thing.box()
    half_w, half_h = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    hand, f = person.anchors["hand"], facing

    def move(target: np.ndarray) -> None:
        thing.shift(*(target - centre))

    if verb == "no_interaction":
        edge = person.box()[2] if f > 0 else person.box()[0]
        thing.shift(edge + f * (rng.uniform(0.2, 0.5) * hp + half_w) - centre[0], 0)
    elif verb == "hold":
        move(hand + np.array([f * 0.7 * half_w, 0]))
    elif verb == "throw":
        move(hand + np.array([f * 0.05 * hp, -(half_h + 0.10 * hp)]))
    elif verb == "kick":
        move(person.anchors["foot"] + np.array([f * 0.9 * half_w, 0]))
    elif verb in ("eat", "drink_with"):
        move(person.anchors["mouth"] + np.array([f * 0.9 * half_w, 0]))
    elif verb == "sit_on":
        person.shift(f * -0.04 * hp, -0.26 * hp)
    elif verb == "carry":
        thing.shift(0, hand[1])
    else:  # push: the grip in the hands, wheels on the ground
        thing.shift(hand[0] - thing.anchors["grip"][0], 0)
    return person, thing, verb not in ("sit_on", "carry")


SEMANTIC_RULES = SceneRules(make_pair, make_object, EXTRA_VERBS, frozenset())
"""The semantic benchmark's drawing rules (``openhoi.data.synthetic.render_image``)."""


def _article(name: str) -> str:
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def label_space_dict() -> dict[str, Any]:
    """The ``synthetic_semantic`` label space (the shipped JSON is this, written out)."""
    objects = ["person", *OBJECTS]
    verbs = list(VERBS)
    interactions = [(v, o) for o, vs in INTERACTIONS.items() for v in vs]
    zero_shot: dict[str, Any] = {}
    for split, spec in ZERO_SHOT.items():
        hidden = [i for i, (v, o) in enumerate(interactions)
                  if o in spec.get("unseen_objects", ()) or v in spec.get("unseen_verbs", ())
                  or (v, o) in spec.get("unseen", ())]
        entry: dict[str, Any] = {"unseen_interactions": hidden}
        if "unseen_objects" in spec:
            entry["unseen_objects"] = [objects.index(o) for o in spec["unseen_objects"]]
        if "unseen_verbs" in spec:
            entry["unseen_verbs"] = [verbs.index(v) for v in spec["unseen_verbs"]]
        zero_shot[split] = entry
    phrase = {v: VERBS[v][0] for v in verbs}
    return {
        "name": "synthetic_semantic",
        "description": "openhoi's semantic synthetic benchmark (make-synthetic --semantic): "
                       "objects composed of shared visual attributes, verbs of shared poses; "
                       "see openhoi/data/synthetic_semantic.py.",
        "sources": {"all": "designed for openhoi; written by "
                           "openhoi.data.synthetic_semantic.label_space_dict()"},
        "objects": [{"name": o, "id": k + 1} for k, o in enumerate(objects)],
        "human_object": "person",
        "verbs": [{"name": v, "id": k + 1, "ing": VERBS[v][0]} for k, v in enumerate(verbs)],
        "interactions": [{"verb": v, "object": o,
                          "phrase": f"a person {phrase[v]} {_article(o)}"}
                         for v, o in interactions],
        "rare": {"threshold": 10, "interactions": []},
        "zero_shot": zero_shot,
        "verb_roles": [],
        "object_attributes": {o: list(k.attributes) for o, k in OBJECTS.items()},
        "object_families": {o: k.family for o, k in OBJECTS.items()},
        "verb_poses": {v: p for v, (_, p) in VERBS.items()},
    }
