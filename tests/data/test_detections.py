import pytest
import torch

from openhoi.data.detections import Instances, read_detections, write_detections
from openhoi.errors import DataError


def test_write_then_read_round_trip(tmp_path):
    inst = Instances(torch.tensor([[1.0, 2.0, 30.5, 40.25], [0.0, 0.0, 5.0, 5.0]]),
                     torch.tensor([0.9, 0.25]), torch.tensor([0, 3]))
    path = tmp_path / "d.json"
    write_detections(path, {"a.jpg": ((50, 60), inst),
                            "empty.jpg": ((10, 10), inst.select(torch.zeros(2, dtype=bool)))})
    got = read_detections(path, num_objects=4)
    assert torch.equal(got["a.jpg"]["boxes"], inst.boxes_xyxy)
    assert torch.allclose(got["a.jpg"]["scores"], inst.scores)
    assert got["a.jpg"]["labels"].tolist() == [0, 3] and got["a.jpg"]["size"].tolist() == [50, 60]
    assert got["empty.jpg"]["boxes"].shape == (0, 4)
    with pytest.raises(DataError, match="labels"):
        read_detections(path, num_objects=3)


def test_object_names_map_onto_the_readers_label_space(tmp_path, caplog):
    inst = Instances(torch.tensor([[0.0, 0.0, 9.0, 9.0], [1.0, 1.0, 5.0, 5.0],
                                   [2.0, 2.0, 6.0, 6.0]]),
                     torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 2, 1]))
    path = tmp_path / "named.json"
    write_detections(path, {"a.jpg": ((10, 10), inst)}, ["person", "zebra", "Teddy_Bear"])
    got = read_detections(path, 3, ["teddy bear", "cup", "person"])
    # person -> 2, teddy bear -> 0 (case and underscores ignored), zebra is not ours: left out
    assert got["a.jpg"]["labels"].tolist() == [2, 0]
    assert torch.equal(got["a.jpg"]["boxes"], inst.boxes_xyxy[:2])
    assert torch.allclose(got["a.jpg"]["scores"], inst.scores[:2])
    assert "zebra" in caplog.text
    with pytest.raises(DataError, match="'objects'.*none of"):
        read_detections(path, 2, ["cup", "kite"])
    with pytest.raises(DataError, match="names 3 classes"):
        read_detections(path, 4)  # names without the reader's: same classes, so same count
    assert read_detections(path, 3)["a.jpg"]["labels"].tolist() == [0, 2, 1]
