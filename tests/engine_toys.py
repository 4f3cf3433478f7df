"""Tiny stand-ins honouring the contracts of ``openhoi.structures`` (model, criterion,
post-processor, evaluator, dataset), for testing the engine without the real model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from openhoi.structures import HOIPredictions, HOIRawOutput, HOITargets, ImageBatch

NUM_OBJECTS = 3
NUM_VERBS = 4
NUM_INTERACTIONS = 5
INTERACTION_VERB = torch.tensor([0, 1, 2, 3, 0])
INTERACTION_OBJECT = torch.tensor([1, 1, 2, 2, 0])


class ToyDataset(Dataset):
    """``size`` images of 16x16..20x20 pixels whose mean colour encodes the interaction of
    their first pair (learnable); every other image has a second pair, so the number of pairs
    varies between batches. An optional random flip exercises the RNG."""

    def __init__(self, size: int, seed: int = 0, random_flip: bool = False) -> None:
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for i in range(size):
            inter = int(torch.randint(NUM_INTERACTIONS, (1,), generator=g))
            h, w = (int(x) for x in torch.randint(16, 21, (2,), generator=g))
            image = torch.rand(3, h, w, generator=g) * 0.2
            image[inter % 3] += 0.5 + 0.1 * inter
            pairs = [inter] if i % 2 else [inter, (inter + 2) % NUM_INTERACTIONS]
            verbs = torch.zeros(len(pairs), NUM_VERBS)
            verbs[torch.arange(len(pairs)), INTERACTION_VERB[pairs]] = 1.0
            boxes = torch.tensor([[1.0, 1.0, w / 2, h / 2], [w / 3, h / 3, w - 1.0, h - 1.0],
                                  [2.0, h / 2, w / 2, h - 2.0]])[: len(pairs) + 1]
            target = HOITargets(
                boxes_xyxy=boxes, labels=torch.cat([torch.zeros(1, dtype=torch.long),
                                                    INTERACTION_OBJECT[pairs]]),
                pair_idx=torch.tensor([[0, 1 + j] for j in range(len(pairs))]), verbs=verbs,
                image_id=f"img{i:03d}.jpg", size=(h, w), orig_size=(h, w))
            self.items.append((image, target, inter))
        self.random_flip = random_flip

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> tuple[Tensor, HOITargets]:
        image, target, _ = self.items[idx]
        if self.random_flip and torch.rand(()) < 0.5:  # global RNG, as augmentations do
            image = image.flip(-1)
        return image, target

    def interactions(self) -> dict[str, int]:
        return {t.image_id: inter for _, t, inter in self.items}


def collate(items: list[tuple[Tensor, HOITargets]]) -> tuple[ImageBatch, list[HOITargets]]:
    h = max(im.shape[1] for im, _ in items)
    w = max(im.shape[2] for im, _ in items)
    images = torch.zeros(len(items), 3, h, w)
    mask = torch.ones(len(items), h, w, dtype=torch.bool)
    for i, (im, _) in enumerate(items):
        images[i, :, : im.shape[1], : im.shape[2]] = im
        mask[i, : im.shape[1], : im.shape[2]] = False
    sizes = torch.tensor([list(im.shape[1:]) for im, _ in items])
    return ImageBatch(images, mask, sizes), [t for _, t in items]


class ToyModel(nn.Module):
    """Masked average pooling -> per-query heads. Parameter names put ``backbone`` and
    ``clip`` weights in their optimiser groups like the real model."""

    def __init__(self, num_queries: int = 3, hidden: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.backbone = nn.Conv2d(3, hidden, 3, padding=1)
        self.clip = nn.Linear(hidden, hidden)
        self.query = nn.Embedding(num_queries, hidden)
        self.dropout = nn.Dropout(dropout)
        self.obj_head = nn.Linear(hidden, NUM_OBJECTS + 1)
        self.box_head = nn.Linear(hidden, 8)
        self.inter_head = nn.Linear(hidden, NUM_INTERACTIONS)

    def parameter_group(self, name: str) -> str:
        return name.split(".")[0] if name.startswith(("backbone.", "clip.")) else "rest"

    def forward(self, batch: ImageBatch) -> HOIRawOutput:
        f = self.backbone(batch.images).relu()  # [B, C, H, W]
        valid = (~batch.mask).unsqueeze(1).float()  # [B, 1, H, W]
        pooled = (f * valid).sum((2, 3)) / valid.sum((2, 3))  # [B, C]
        x = self.dropout(self.clip(pooled))[:, None, :] + self.query.weight[None]  # [B, Q, C]
        boxes = self.box_head(x).sigmoid()  # [B, Q, 8]
        return HOIRawOutput(obj_logits=self.obj_head(x), h_boxes_cxcywh=boxes[..., :4],
                            o_boxes_cxcywh=boxes[..., 4:],
                            interaction_logits=self.inter_head(x))


def _cxcywh_norm(boxes_xyxy: Tensor, size: tuple[int, int]) -> Tensor:
    h, w = size
    x1, y1, x2, y2 = boxes_xyxy.unbind(-1)
    out = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1)
    return out / torch.tensor([w, h, w, h], dtype=out.dtype)


class ToyCriterion(nn.Module):
    """Pair j is matched to query j. Sums over pairs are divided by ``num_pairs`` (given by
    the engine); the object term is a mean over all queries of the batch."""

    def forward(self, out: HOIRawOutput, targets: list[HOITargets],
                num_pairs: float) -> dict[str, Tensor]:
        b, q = out.obj_logits.shape[:2]
        obj_target = torch.full((b, q), NUM_OBJECTS, dtype=torch.long)
        inter = out.interaction_logits.new_zeros(())
        box = out.interaction_logits.new_zeros(())
        for i, t in enumerate(targets):
            m = t.num_pairs
            obj_labels = t.pair_object_labels(NUM_OBJECTS)
            obj_target[i, :m] = obj_labels
            gt_inter = torch.zeros(m, NUM_INTERACTIONS)
            for j in range(m):
                for v in t.verbs[j].nonzero().flatten().tolist():
                    hit = (INTERACTION_VERB == v) & (INTERACTION_OBJECT == obj_labels[j])
                    gt_inter[j, hit] = 1.0
            inter = inter + F.binary_cross_entropy_with_logits(
                out.interaction_logits[i, :m], gt_inter, reduction="sum")
            h, o = t.pair_boxes_xyxy()
            box = box + (out.h_boxes_cxcywh[i, :m] - _cxcywh_norm(h, t.size)).abs().sum()
            box = box + (out.o_boxes_cxcywh[i, :m] - _cxcywh_norm(o, t.size)).abs().sum()
        obj = F.cross_entropy(out.obj_logits.flatten(0, 1), obj_target.flatten())
        return {"loss_obj": obj, "loss_inter": 2.0 * inter / num_pairs,
                "loss_box": 2.5 * box / num_pairs}


def toy_postprocess(out: HOIRawOutput, orig_sizes: Tensor,
                    image_ids: Sequence[str]) -> list[HOIPredictions]:
    """Every query's best interaction, scored by its sigmoid."""
    preds = []
    scores = out.interaction_logits.sigmoid()  # [B, Q, I]
    for i, image_id in enumerate(image_ids):
        best, inter = scores[i].max(-1)  # [Q]
        h, w = orig_sizes[i].tolist()
        scale = torch.tensor([w, h, w, h], dtype=torch.float32)
        boxes = torch.cat([out.h_boxes_cxcywh[i], out.o_boxes_cxcywh[i]]) * scale  # [2Q, 4]
        cx, cy, bw, bh = boxes.unbind(-1)
        xyxy = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
        q = scores.shape[1]
        preds.append(HOIPredictions(
            boxes_xyxy=xyxy, labels=torch.cat([torch.zeros(q, dtype=torch.long),
                                               INTERACTION_OBJECT[inter]]),
            pair_idx=torch.stack([torch.arange(q), torch.arange(q, 2 * q)], -1),
            interactions=inter, scores=best, image_id=image_id))
    return preds


class ToyEvaluator:
    """Accuracy of each image's top-scoring triplet against its one ground-truth interaction."""

    def __init__(self, gt: dict[str, int]) -> None:
        self.gt = gt
        self.reset()

    def reset(self) -> None:
        self.seen: dict[str, bool] = {}

    def process(self, predictions: Sequence[HOIPredictions]) -> None:
        for p in predictions:
            top = int(p.interactions[p.scores.argmax()])
            self.seen[p.image_id] = top == self.gt[p.image_id]

    def evaluate(self) -> dict[str, float]:
        missing = set(self.gt) - set(self.seen)
        assert not missing, f"images never predicted: {sorted(missing)[:3]}"
        return {"accuracy": sum(self.seen.values()) / len(self.gt), "num_images": len(self.seen)}


def toy_config(num_workers: int = 0, **train):
    """A ``Config`` for toy runs; ``train`` overrides ``TrainConfig`` fields."""
    from openhoi.config import load_config

    base = {"epochs": 3, "batch_size": 4, "lr": 3e-2, "lr_backbone": 1e-2, "lr_drop": 2,
            "clip_max_norm": 1.0, "log_every": 1, "best_metric": "accuracy",
            "find_unused_parameters": False}
    return load_config(data={"data": {"dataset": "synthetic", "num_workers": num_workers},
                             "train": {**base, **train}})


def run_toy(run_dir, config, *, world_size: int = 1, dropout: float = 0.0, model_seed: int = 0,
            resume: bool = False, random_flip: bool = False, val: bool = True,
            stop_after_epoch: int | None = None, train_size: int = 24):
    """Build toy model/data for ``config`` and ``fit``; returns (state, model).

    ``stop_after_epoch=k`` kills the run (KeyboardInterrupt) when epoch k+1 starts loading.
    """
    from openhoi import checkpoint as ckpt_io
    from openhoi.engine.loaders import eval_loader, train_loader
    from openhoi.engine.optim import build_optimizer, build_scheduler
    from openhoi.engine.train import fit, restore

    torch.manual_seed(model_seed)
    cfg = config.train
    model = ToyModel(dropout=dropout)
    optimizer = build_optimizer(model, config.train, {"clip": config.model.clip.lr})
    scheduler = build_scheduler(optimizer, cfg)
    per_process = cfg.batch_size // (world_size * cfg.grad_accum_steps)
    train_set = ToyDataset(train_size, seed=1, random_flip=random_flip)
    loader = train_loader(train_set, per_process, collate, cfg.seed, config.data.num_workers)
    if stop_after_epoch is not None:
        loader = _KillAt(loader, stop_after_epoch + 1)
    val_set = ToyDataset(10, seed=2)
    state = None
    if resume:
        state = restore(ckpt_io.load_checkpoint(run_dir / "checkpoints" / "last.pt"), model,
                        optimizer, scheduler, None, "toy")
    state = fit(model, ToyCriterion(), toy_postprocess, optimizer, scheduler, loader,
                config=config, label_space="toy", run_dir=run_dir, device=torch.device("cpu"),
                val_loader=eval_loader(val_set, 3, collate) if val else None,
                val_evaluator=ToyEvaluator(val_set.interactions()) if val else None,
                test_loader=eval_loader(val_set, 3, collate),
                test_evaluator=ToyEvaluator(val_set.interactions()), state=state)
    return state, model


class _KillAt:
    """A loader proxy that raises KeyboardInterrupt when asked for epoch ``epoch``'s data."""

    def __init__(self, loader, epoch: int) -> None:
        self.loader, self.kill_epoch = loader, epoch
        self.sampler, self.generator = loader.sampler, loader.generator

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        if self.sampler.epoch == self.kill_epoch:
            raise KeyboardInterrupt
        return iter(self.loader)
