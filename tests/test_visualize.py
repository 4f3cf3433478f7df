import numpy as np
import skimage.data
from PIL import Image

from openhoi.structures import Triplet
from openhoi.visualize import draw_triplets, group_pairs, output_size

H_BOX = (140.0, 20.0, 400.0, 510.0)
O_BOX = (320.0, 380.0, 430.0, 500.0)


def _triplets():
    return [
        Triplet(H_BOX, O_BOX, "cup", "hold", 7, 0.9),
        Triplet(H_BOX, O_BOX, "cup", "drink_with", 8, 0.3),
        Triplet(H_BOX, (20.0, 300.0, 120.0, 400.0), "sports ball", "kick", 1, 0.5),
    ]


def test_pairs_grouped_and_sorted_by_best_score():
    pairs = group_pairs(_triplets())
    assert len(pairs) == 2
    assert [r[0] for r in pairs[0].rows] == ["hold cup", "drink with cup"]
    assert pairs[1].best == 0.5


def test_picture_size_follows_rule_and_boxes_are_drawn():
    image = Image.fromarray(skimage.data.astronaut())
    out = draw_triplets(image, _triplets())
    assert out.size == output_size(image.size, 2)
    assert out.width > image.width and out.height == image.height
    diff = np.abs(np.asarray(out)[:, :512].astype(int) - skimage.data.astronaut()).sum(-1)
    # the human box's left edge is coloured, a pixel far from any box is untouched
    assert diff[300, 140] > 0 and diff[250, 60] == 0


def test_small_image_is_upscaled_and_empty_predictions_give_plain_image():
    small = Image.fromarray(skimage.data.camera()).resize((64, 48))
    out = draw_triplets(small, [])
    assert out.size == (512, 384) == output_size((64, 48), 0)
    out = draw_triplets(small, [Triplet((1, 1, 30, 40), None, "", "stand", 0, 0.4)])
    assert out.height == 384 and out.width > 512


def test_human_box_solid_object_box_dashed_and_tagged_h_o(monkeypatch):
    """One can tell the person from the object: solid 'H1' box, dashed 'O1' box, a legend
    line saying so."""
    from PIL import ImageDraw

    texts = []
    original = ImageDraw.ImageDraw.text

    def record(self, xy, text, *a, **k):
        texts.append(text)
        return original(self, xy, text, *a, **k)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", record)
    plain = Image.new("RGB", (400, 400), (128, 128, 128))
    out = np.asarray(draw_triplets(plain, [Triplet((40.0, 40.0, 200.0, 360.0),
                                                   (240.0, 120.0, 360.0, 240.0),
                                                   "cup", "hold", 7, 0.9)])).astype(int)
    painted = np.abs(out - 128).sum(-1) > 0
    assert painted[150:350, 40].all()  # human box left edge: solid
    edge = painted[120, 260:360]  # object box top edge (past its tag): dashes and gaps
    assert 0.3 < edge.mean() < 0.8
    assert {"H1", "O1"} <= set(texts)
    assert any("solid: human" in t and "dashed: object" in t for t in texts)
