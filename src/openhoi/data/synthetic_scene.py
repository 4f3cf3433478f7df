"""Geometry and drawing of the synthetic benchmark: stick-figure humans and simple objects.

Everything is built around a figure standing at the origin (feet at y = 0, facing ``+x`` when
``facing = 1``) in units of its height, then shifted into place. An ``Entity`` is a list of
drawing primitives; its box is the tight box of the primitives marked ``in_box`` (a kite's line
and tail are drawn but, as in COCO, not boxed).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np
from PIL import ImageDraw

Color = tuple[int, int, int]


@dataclass
class Prim:
    """One drawing primitive. ``pts`` is ``[K, 2]`` (x, y); an ellipse gives its box corners."""

    kind: str  # "line" | "ellipse" | "polygon"
    pts: np.ndarray
    fill: Color | None = None
    outline: Color | None = None
    width: float = 1.0
    in_box: bool = True


@dataclass
class Entity:
    """A human or an object: primitives, plus the joints a placement may refer to."""

    prims: list[Prim] = field(default_factory=list)
    anchors: dict[str, np.ndarray] = field(default_factory=dict)

    def box(self) -> np.ndarray:
        """``[4]`` float tight xyxy box of the boxed primitives."""
        lo, hi = [], []
        for p in self.prims:
            if not p.in_box:
                continue
            pad = p.width / 2 if p.kind == "line" else 0.0
            lo.append(p.pts.min(0) - pad)
            hi.append(p.pts.max(0) + pad)
        return np.concatenate([np.min(lo, 0), np.max(hi, 0)])

    def extent(self) -> np.ndarray:
        """``[4]`` xyxy box of everything drawn (boxed or not)."""
        lo = np.min([p.pts.min(0) - p.width for p in self.prims], 0)
        hi = np.max([p.pts.max(0) + p.width for p in self.prims], 0)
        return np.concatenate([lo, hi])

    def shift(self, dx: float, dy: float) -> None:
        d = np.array([dx, dy])
        for p in self.prims:
            p.pts = p.pts + d
        self.anchors = {k: v + d for k, v in self.anchors.items()}

    def draw(self, canvas: ImageDraw.ImageDraw) -> None:
        for p in self.prims:
            pts = [tuple(float(v) for v in pt) for pt in p.pts]
            if p.kind == "line":
                canvas.line(pts, fill=p.fill, width=max(1, round(p.width)), joint="curve")
            elif p.kind == "ellipse":
                canvas.ellipse(pts, fill=p.fill, outline=p.outline)
            else:
                canvas.polygon(pts, fill=p.fill, outline=p.outline)


def _pt(x: float, y: float) -> np.ndarray:
    return np.array([x, y], dtype=np.float64)


def random_color(rng: np.random.Generator, sat: tuple[float, float] = (0.55, 0.95),
                 val: tuple[float, float] = (0.45, 0.95)) -> Color:
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(*sat), rng.uniform(*val))
    return int(r * 255), int(g * 255), int(b * 255)


def darker(c: Color, f: float = 0.55) -> Color:
    return int(c[0] * f), int(c[1] * f), int(c[2] * f)


SKIN: tuple[Color, ...] = ((241, 194, 160), (224, 172, 105), (198, 134, 66), (141, 85, 36),
                           (255, 219, 172))

POSES = ("stand", "hold", "raise", "drink", "carry", "kick", "sit", "push")


def human(height: float, facing: int, pose: str, clothes: Color, skin: Color) -> Entity:
    """A stick figure with feet at y = 0 (``sit``: hips at y = 0, see ``sit_on_chair``).

    Poses: ``stand`` arms down; ``hold`` front hand forward at chest height; ``raise`` front
    hand above the head; ``drink`` front hand at the mouth; ``carry`` both hands above the
    head; ``kick`` front foot forward and up; ``sit`` hips bent, thighs level; ``push`` both
    hands forward at hip height.
    """
    s, f = height, facing
    r = 0.09 * s
    sitting = pose == "sit"
    hip = _pt(0, 0) if sitting else _pt(0, -0.47 * s)
    neck = hip + _pt(0, -(0.53 * s - 2 * r - 0.02 * s))
    head = neck + _pt(0, -(r + 0.02 * s))
    top = head[1] - r
    sh = neck + _pt(0, 0.04 * s)
    thick, body = max(2.0, 0.05 * s), max(3.0, 0.12 * s)
    arms = {  # (front elbow, front hand, back elbow, back hand), relative to the shoulder
        "stand": ((0.06, 0.15), (0.12, 0.33), (-0.06, 0.15), (-0.12, 0.33)),
        "hold": ((0.10, 0.15), (0.26, 0.13), (-0.06, 0.15), (-0.12, 0.33)),
        "raise": ((0.10, -0.13), (0.15, -0.31), (-0.06, 0.15), (-0.12, 0.33)),
        "drink": ((0.17, 0.10), (r / s + 0.04, head[1] / s - sh[1] / s + 0.03),
                  (-0.06, 0.15), (-0.12, 0.33)),
        "carry": ((0.13, -0.10), (0.12, top / s - sh[1] / s - 0.05), (-0.13, -0.10),
                  (-0.12, top / s - sh[1] / s - 0.05)),
        "kick": ((0.07, 0.15), (0.13, 0.32), (-0.08, 0.13), (-0.17, 0.28)),
        "sit": ((0.08, 0.14), (0.20, 0.27), (0.02, 0.15), (0.12, 0.30)),
        "push": ((0.12, 0.17), (0.28, 0.26), (0.08, 0.18), (0.24, 0.28)),
    }[pose]
    fe, fh, be, bh = (sh + _pt(f * a * s, b * s) for a, b in arms)
    if sitting:  # thighs level, shins down to the floor at 0.26 s below the hips
        fk, ff = hip + _pt(f * 0.22 * s, 0), hip + _pt(f * 0.24 * s, 0.26 * s)
        bk, bf = hip + _pt(f * 0.19 * s, 0.02 * s), hip + _pt(f * 0.18 * s, 0.26 * s)
    elif pose == "kick":
        fk, ff = _pt(f * 0.15 * s, -0.27 * s), _pt(f * 0.31 * s, -0.11 * s)
        bk, bf = _pt(-f * 0.03 * s, -0.24 * s), _pt(-f * 0.05 * s, 0)
    else:
        fk, ff = _pt(f * 0.05 * s, -0.24 * s), _pt(f * 0.09 * s, 0)
        bk, bf = _pt(-f * 0.05 * s, -0.24 * s), _pt(-f * 0.09 * s, 0)
    pants = darker(clothes, 0.6)
    prims = [
        Prim("line", np.stack([hip, bk, bf]), pants, width=thick),
        Prim("line", np.stack([sh, be, bh]), darker(clothes, 0.8), width=thick),
        Prim("line", np.stack([neck, hip]), clothes, width=body),
        Prim("line", np.stack([hip, fk, ff]), pants, width=thick),
        Prim("line", np.stack([sh, fe, fh]), clothes, width=thick),
        Prim("ellipse", np.stack([head - r, head + r]), skin, outline=darker(skin)),
    ]
    anchors = {"head": head, "mouth": head + _pt(f * r, 0.3 * r), "hand": fh, "back_hand": bh,
               "foot": ff, "hip": hip, "top": _pt(0, top)}
    return Entity(prims, anchors)


def ball(radius: float, color: Color) -> Entity:
    """A ball centred at the origin, with a seam."""
    r = radius
    return Entity([
        Prim("ellipse", np.array([[-r, -r], [r, r]]), color, outline=darker(color)),
        Prim("line", np.array([[-0.7 * r, -0.3 * r], [0, 0.2 * r], [0.7 * r, -0.3 * r]]),
             darker(color), width=max(1.0, r / 4), in_box=False),
    ])


def kite(half_w: float, half_h: float, color: Color, tail: bool = True) -> Entity:
    """A diamond kite centred at the origin; anchor ``bottom`` is where the line attaches."""
    top, right = _pt(0, -half_h), _pt(half_w, -0.25 * half_h)
    bottom, left = _pt(0, half_h), _pt(-half_w, -0.25 * half_h)
    prims = [
        Prim("polygon", np.stack([top, right, bottom, left]), color, outline=darker(color)),
        Prim("line", np.stack([top, bottom]), darker(color), width=1.0),
        Prim("line", np.stack([left, right]), darker(color), width=1.0),
    ]
    if tail:
        zig = [bottom + _pt((-1) ** k * 0.25 * half_w, 0.35 * half_h * k) for k in range(1, 5)]
        prims.append(Prim("line", np.stack([bottom, *zig]), darker(color, 0.4), width=1.0,
                          in_box=False))
    return Entity(prims, {"bottom": bottom})


def cup(width: float, height: float, color: Color, handle: int) -> Entity:
    """A cup standing on y = 0, centred on x = 0, handle on side ``handle`` (+1 / -1)."""
    w, h = width, height
    body = np.array([[-w / 2, -h], [w / 2, -h], [0.38 * w, 0], [-0.38 * w, 0]])
    hx = handle * 0.45 * w
    grip = np.array([[hx, -0.8 * h], [hx + handle * 0.35 * w, -0.7 * h],
                     [hx + handle * 0.35 * w, -0.35 * h], [hx - handle * 0.03 * w, -0.25 * h]])
    return Entity([
        Prim("line", grip, darker(color), width=max(1.5, 0.12 * w)),
        Prim("polygon", body, color, outline=darker(color)),
        Prim("line", np.array([[-w / 2, -h], [w / 2, -h]]), darker(color, 0.4), width=1.0),
    ])


def chair(seat_w: float, seat_h: float, back_h: float, color: Color, facing: int) -> Entity:
    """A side-view chair standing on y = 0, seat centred on x = 0, back on side ``-facing``."""
    t = max(2.0, 0.12 * seat_h)
    back_x, front_x = -facing * seat_w / 2, facing * seat_w / 2
    dark = darker(color, 0.7)
    return Entity([
        Prim("line", np.array([[back_x, 0], [back_x, -seat_h - back_h]]), color, width=t),
        Prim("line", np.array([[front_x, 0], [front_x, -seat_h]]), dark, width=t),
        Prim("line", np.array([[back_x, -seat_h], [front_x, -seat_h]]), color, width=1.3 * t),
        Prim("line", np.array([[back_x, -seat_h - 0.5 * back_h],
                               [back_x + facing * 0.1 * seat_w, -seat_h - 0.5 * back_h]]),
             dark, width=t / 2, in_box=False),
    ], {"seat": _pt(0, -seat_h)})


def background(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, int]:
    """``[H, W, 3]`` uint8 sky-over-ground scene with noise and faint blobs; and the horizon."""
    horizon = int(rng.uniform(0.38, 0.55) * height)
    sky = np.array(random_color(rng, (0.1, 0.4), (0.75, 1.0)), dtype=np.float32)
    ground = np.array(random_color(rng, (0.2, 0.6), (0.35, 0.7)), dtype=np.float32)
    y = np.arange(height, dtype=np.float32)[:, None]
    shade = np.where(y < horizon, 0.85 + 0.15 * y / max(horizon, 1),
                     0.8 + 0.2 * (y - horizon) / max(height - horizon, 1))  # [H, 1]
    rows = np.where(y < horizon, sky, ground) * shade  # [H, 3]
    img = np.repeat(rows[:, None, :], width, axis=1)  # [H, W, 3]
    for _ in range(int(rng.integers(2, 6))):  # low-contrast clutter
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(4, width / 5), rng.uniform(3, height / 6)
        y0, y1 = max(int(cy - ry), 0), min(int(cy + ry) + 1, height)
        x0, x1 = max(int(cx - rx), 0), min(int(cx + rx) + 1, width)
        yy, xx = np.ogrid[y0:y1, x0:x1]
        inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
        img[y0:y1, x0:x1][inside] += rng.uniform(-25, 25, size=3).astype(np.float32)
    img += rng.standard_normal(img.shape, dtype=np.float32) * 6
    return np.clip(img, 0, 255).astype(np.uint8), horizon
