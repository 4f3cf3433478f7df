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
