"""Pictures of predictions: boxes, human-object lines and a legend with scores.

One colour per (human, object) pair; the human box is drawn solid and tagged ``H1``, ``H2``...,
the object box dashed and tagged ``O1``, ``O2``..., and a legend row per pair lists its
interactions with their scores, so a reader tells people from objects and matches boxes and
verbs at a glance. Small images are upscaled for drawing and fonts scale with the image, so
labels stay readable from a 64 px thumbnail to a 20 MP photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from openhoi.structures import Triplet

# Tableau-10: distinct, colour-blind-friendly hues (matplotlib's default cycle).
PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]
MIN_SHORT_SIDE = 384
"""Images whose short side is smaller are upscaled (bilinear) before drawing."""
LEGEND_WIDTH_RATIO = 0.45
"""Legend panel width as a fraction of the (scaled) image width, at least ``MIN_LEGEND_WIDTH``."""
MIN_LEGEND_WIDTH = 260


@dataclass(frozen=True)
class _Pair:
    h_box: tuple[float, float, float, float]
    o_box: tuple[float, float, float, float] | None
    rows: list[tuple[str, float]]  # (verb object, score), best first

    @property
    def best(self) -> float:
        return self.rows[0][1]


def group_pairs(triplets: Sequence[Triplet]) -> list[_Pair]:
    """Group triplets by (human box, object box), pairs sorted by their best score."""
    groups: dict[tuple, list[Triplet]] = {}
    for t in triplets:
        key = (tuple(round(v, 1) for v in t.h_box_xyxy),
               None if t.o_box_xyxy is None else tuple(round(v, 1) for v in t.o_box_xyxy))
        groups.setdefault(key, []).append(t)
    pairs = []
    for members in groups.values():
        members = sorted(members, key=lambda t: -t.score)
        pairs.append(_Pair(members[0].h_box_xyxy, members[0].o_box_xyxy,
                           [(f"{t.verb_name} {t.object_name}".replace("_", " "), t.score)
                            for t in members]))
    return sorted(pairs, key=lambda p: -p.best)


def output_size(image_size: tuple[int, int], num_pairs: int) -> tuple[int, int]:
    """``(width, height)`` of the picture ``draw_triplets`` makes for an image of ``image_size``
    ``(width, height)``: the scaled image, plus a legend panel on the right when there are pairs.
    """
    w, h = image_size
    scale = max(1.0, MIN_SHORT_SIDE / max(1, min(w, h)))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    if num_pairs == 0:
        return sw, sh
    return sw + max(MIN_LEGEND_WIDTH, round(sw * LEGEND_WIDTH_RATIO)), sh


def dashed_rectangle(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float],
                     colour: tuple[int, int, int], width: int, dash: int) -> None:
    """Outline ``box`` (xyxy) with dashes of ``dash`` pixels and gaps as long."""
    x0, y0, x1, y1 = box
    for (ax, ay), (bx, by) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)),
                               ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = max(abs(bx - ax), abs(by - ay))
        steps = max(1, int(length // (2 * dash)) + 1)
        for i in range(steps):
            s, e = 2 * i * dash / max(length, 1e-9), min(1.0, (2 * i + 1) * dash / max(length,
                                                                                      1e-9))
            if s >= 1.0:
                break
            draw.line([(ax + (bx - ax) * s, ay + (by - ay) * s),
                       (ax + (bx - ax) * e, ay + (by - ay) * e)], fill=colour, width=width)


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def draw_triplets(
    image: Image.Image,
    triplets: Sequence[Triplet],
    max_rows_per_pair: int = 3,
) -> Image.Image:
    """Draw triplets on a copy of ``image`` (RGB) and return the picture.

    Args:
        image: the image the boxes refer to (boxes are in its pixels).
        triplets: detections to draw; callers filter by score/top-k beforehand.
        max_rows_per_pair: interactions listed per pair in the legend (best first).

    Returns:
        A new RGB image of ``output_size(image.size, num_pairs)``.
    """
    pairs = group_pairs(triplets)
    out_w, out_h = output_size(image.size, len(pairs))
    scale = max(1.0, MIN_SHORT_SIDE / max(1, min(image.size)))
    sw, sh = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    canvas = Image.new("RGB", (out_w, out_h), (255, 255, 255))
    canvas.paste(image.convert("RGB").resize((sw, sh), Image.BILINEAR), (0, 0))
    draw = ImageDraw.Draw(canvas)
    line_w = max(2, round(min(sw, sh) / 200))
    font_px = max(12, round(min(sw, sh) / 28))
    font = _font(font_px)

    def box(b: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        return (b[0] * scale, b[1] * scale, b[2] * scale, b[3] * scale)

    def centre(b: tuple[float, float, float, float]) -> tuple[float, float]:
        return ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)

    def tag(xy: tuple[float, float], text: str, colour: tuple[int, int, int]) -> None:
        x0, y0, x1, y1 = draw.textbbox(xy, text, font=font)
        pad = max(2, font_px // 6)
        draw.rectangle((x0 - pad, y0 - pad, x1 + pad, y1 + pad), fill=colour)
        draw.text(xy, text, fill=(255, 255, 255), font=font)

    # Draw worst pairs first so the best ones end on top.
    for k in reversed(range(len(pairs))):
        p, colour = pairs[k], PALETTE[k % len(PALETTE)]
        hb = box(p.h_box)
        draw.rectangle(hb, outline=colour, width=line_w)
        if p.o_box is not None:
            ob = box(p.o_box)
            dashed_rectangle(draw, ob, colour, line_w, dash=max(6, 4 * line_w))
            draw.line([centre(hb), centre(ob)], fill=colour, width=line_w)
            r = line_w * 2
            for cx, cy in (centre(hb), centre(ob)):
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
            tag((ob[0] + line_w, ob[1] + line_w), f"O{k + 1}", colour)
        tag((hb[0] + line_w, hb[1] + line_w), f"H{k + 1}", colour)

    if pairs:
        _draw_legend(draw, pairs, x=sw, width=out_w - sw, height=out_h,
                     max_rows_per_pair=max_rows_per_pair)
    return canvas


def _draw_legend(draw: ImageDraw.ImageDraw, pairs: list[_Pair], x: int, width: int, height: int,
                 max_rows_per_pair: int) -> None:
    """Legend rows ``#k verb object score``; shrinks the font until every pair fits."""
    rows = [(k, text, score) for k, p in enumerate(pairs) for text, score in
            p.rows[:max_rows_per_pair]]
    font_px = max(8, min(22, (height - 16) // max(1, len(rows) + 2)))
    longest = max((f"{k + 1:>2}  {t}  0.00" for k, t, _ in rows), key=len)
    while font_px > 8:  # shrink until the longest row fits beside its swatch
        font, pad = _font(font_px), max(4, font_px // 2)
        if draw.textlength(longest, font=font) + 4 * pad + font_px <= width:
            break
        font_px -= 1
    font = _font(font_px)
    pad = max(4, font_px // 2)
    y = pad
    draw.text((x + pad, y), "H solid: human, O dashed: object", fill=(0, 0, 0), font=font)
    y += font_px + pad // 2
    draw.text((x + pad, y), "pair  interaction  score", fill=(0, 0, 0), font=font)
    y += font_px + pad // 2
    for k, text, score in rows:
        if y + font_px > height:
            draw.text((x + pad, y - font_px), "...", fill=(0, 0, 0), font=font)
            break
        colour = PALETTE[k % len(PALETTE)]
        draw.rectangle((x + pad, y, x + pad + font_px, y + font_px), fill=colour)
        label = f"{k + 1:>2}  {text}"
        draw.text((x + 2 * pad + font_px, y), label, fill=(0, 0, 0), font=font)
        score_text = f"{score:.2f}"
        sx = x + width - pad - draw.textlength(score_text, font=font)
        draw.text((sx, y), score_text, fill=(0, 0, 0), font=font)
        y += font_px + pad // 2
