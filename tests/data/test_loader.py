import torch
from torch.utils.data import DistributedSampler

from openhoi.config import DataConfig
from openhoi.data.dataset import build_dataset
from openhoi.data.loader import build_loader, collate, pad_images
from openhoi.structures import HOITargets


def test_pad_images_by_hand():
    a = torch.arange(6.0).reshape(1, 2, 3).expand(3, 2, 3)
    b = torch.full((3, 4, 1), 7.0)
    batch = pad_images([a, b])
    assert batch.images.shape == (2, 3, 4, 3)
    assert batch.sizes.tolist() == [[2, 3], [4, 1]]
    assert torch.equal(batch.images[0, :, :2, :3], a) and batch.images[0, :, 2:].eq(0).all()
    assert torch.equal(batch.images[1, :, :, :1], b) and batch.images[1, :, :, 1:].eq(0).all()
    expected_mask = torch.tensor([[[0, 0, 0], [0, 0, 0], [1, 1, 1], [1, 1, 1]],
                                  [[0, 1, 1], [0, 1, 1], [0, 1, 1], [0, 1, 1]]], dtype=torch.bool)
    assert torch.equal(batch.mask, expected_mask)


def test_collate_keeps_targets_in_order():
    t = [HOITargets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
                    torch.zeros(0, 2, dtype=torch.long), torch.zeros(0, 3), f"{k}", (2, 2), (2, 2))
         for k in range(3)]
    batch, targets = collate([(torch.zeros(3, 2, 2), tk) for tk in t])
    assert len(batch) == 3 and [x.image_id for x in targets] == ["0", "1", "2"]


def cfg(root) -> DataConfig:
    return DataConfig(dataset="synthetic", root=str(root), train_scales=(48, 64), max_size=96,
                      crop_scales=(40,), crop_size=(24, 40), test_scale=64)


def image_ids(loader):
    return [[t.image_id for t in targets] for _, targets in loader]


def test_loader_is_seeded_and_deterministic_with_workers(synthetic_root, space):
    ds = build_dataset(cfg(synthetic_root), "train", space)
    runs = []
    for seed in (3, 3, 4):
        loader = build_loader(ds, batch_size=4, shuffle=True, num_workers=2, seed=seed)
        images, targets = next(iter(loader))
        runs.append((images.images, [t.boxes_xyxy for t in targets], image_ids(loader)))
    assert torch.equal(runs[0][0], runs[1][0])  # same order and same augmentation
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert runs[0][2] == runs[1][2] and runs[0][2] != runs[2][2]
    assert sorted(sum(runs[0][2], [])) == sorted(str(n) for n in ds.annotations.file_names)


def test_loader_with_distributed_sampler(synthetic_root, space):
    ds = build_dataset(cfg(synthetic_root), "test", space)
    halves = []
    for rank in (0, 1):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=False)
        loader = build_loader(ds, batch_size=2, shuffle=True, num_workers=0, sampler=sampler)
        halves.append(sum(image_ids(loader), []))
    assert len(halves[0]) == len(halves[1]) == (len(ds) + 1) // 2
    assert set(halves[0]) | set(halves[1]) == {str(n) for n in ds.annotations.file_names}
