"""Everything distributed: process-group set-up from torchrun's variables, rank queries,
collectives that are no-ops in a single process, samplers and DDP wrapping.

No other module calls ``torch.distributed``: model and criterion receive normalisers (the
number of pairs in the global batch) from the engine, which all-reduces them here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import Sampler

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a (possibly single-process) job.

    Attributes:
        rank: global rank, 0 .. world_size - 1.
        local_rank: rank on this node (selects the CUDA device).
        world_size: number of processes.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def parse_torchrun_env(environ: Mapping[str, str]) -> DistEnv:
    """Read ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE`` as set by ``torchrun`` (absent: 1 process).

    The CLI passes ``os.environ``; library code never reads the environment itself.
    """
    if "WORLD_SIZE" not in environ:
        return DistEnv()
    try:
        return DistEnv(rank=int(environ["RANK"]), local_rank=int(environ.get("LOCAL_RANK", 0)),
                       world_size=int(environ["WORLD_SIZE"]))
    except (KeyError, ValueError) as err:
        raise RuntimeError(f"malformed torchrun environment ({err})") from None


def init_distributed(env: DistEnv, device_type: str, init_method: str = "env://") -> None:
    """Join the process group of ``env`` (NCCL on CUDA, gloo on CPU); no-op for one process.

    ``init_method="env://"`` reads ``MASTER_ADDR``/``MASTER_PORT`` as torchrun sets them; tests
    pass a ``file://`` or ``tcp://`` address instead.
    """
    if not env.distributed or dist.is_initialized():
        return
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(env.local_rank)
    dist.init_process_group(backend, init_method=init_method, rank=env.rank,
                            world_size=env.world_size)
    log.info("process group: rank %d/%d (%s)", env.rank, env.world_size, backend)


def destroy_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def _collective_device() -> torch.device:
    """Tensors given to NCCL collectives must live on the current CUDA device."""
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(x: Tensor) -> Tensor:
    """Sum of ``x`` over processes (a new tensor on ``x``'s device; ``x`` itself is untouched)."""
    if not is_distributed():
        return x.clone()
    y = x.detach().to(_collective_device(), copy=True)
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y.to(x.device)


def all_reduce_mean(x: Tensor) -> Tensor:
    """Mean of ``x`` over processes."""
    return all_reduce_sum(x) / get_world_size()


def reduce_dict_mean(values: Mapping[str, Tensor]) -> dict[str, float]:
    """Mean over processes of scalar tensors, in one collective; returns Python floats."""
    if not values:
        return {}
    keys = sorted(values)
    stacked = torch.stack([values[k].detach().float().reshape(()) for k in keys])  # [K]
    reduced = all_reduce_mean(stacked).tolist()
    return dict(zip(keys, reduced))


def all_gather_object(obj: T) -> list[T]:
    """``[obj of rank 0, obj of rank 1, ...]`` (pickled; keep it on the CPU)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: T, src: int = 0) -> T:
    """Rank ``src``'s ``obj`` on every process."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=_collective_device())
    return box[0]


def wrap_ddp(model: nn.Module, device: torch.device, find_unused_parameters: bool) -> nn.Module:
    """``DistributedDataParallel(model)`` in a distributed job, ``model`` itself otherwise."""
    if not is_distributed():
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(
        model, device_ids=device_ids, find_unused_parameters=find_unused_parameters)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (the model itself when not wrapped)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


class TrainSampler(Sampler[int]):
    """Seeded per-epoch shuffle, split into interleaved shards: rank r takes every
    ``world_size``-th index of the permutation, starting at r (``DistributedSampler``'s layout).

    The permutation depends on ``(seed, epoch)`` only, so with per-process batch ``b`` the
    union over ranks of their k-th batches is positions ``[k*b*W, (k+1)*b*W)`` of the same
    permutation: one process with batch ``b*W`` sees the same images at every step. The tail
    that does not fill a whole batch on every rank is dropped (``drop_last``).

    With ``aspect_ratios`` and ``group_window`` > 0 the used permutation is cut into windows
    of ``group_window`` global batches (``batch_size * world_size`` images each); each window
    is sorted by aspect ratio, cut into global batches again, and its batches are put in a
    seeded random order, so each batch holds images of alike shape (less padding) while every
    image is still seen once per epoch and the sharding above still holds.

    Args:
        size: dataset length.
        batch_size: images per batch per process.
        seed: shuffle seed.
        rank, world_size: this process's shard.
        aspect_ratios: ``[size]`` width / height of each image (for ``group_window``).
        group_window: global batches per sorting window; 0 = no grouping.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0,
                 world_size: int = 1, aspect_ratios: Sequence[float] | None = None,
                 group_window: int = 0) -> None:
        if group_window and (aspect_ratios is None or len(aspect_ratios) != size):
            raise ValueError("group_window needs one aspect ratio per image")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.group_window = group_window
        self.aspect_ratios = (torch.as_tensor(aspect_ratios, dtype=torch.float64)
                              if group_window else None)
        self.epoch = 0
        self.num_batches = size // (batch_size * world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_batches * self.batch_size

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        perm = torch.randperm(self.size, generator=g)
        used = perm[: self.num_batches * self.batch_size * self.world_size]
        if self.aspect_ratios is not None:
            used = self._grouped(used, g)
        return iter(used[self.rank :: self.world_size].tolist())

    def _grouped(self, used: Tensor, g: torch.Generator) -> Tensor:
        """``used`` with each window sorted by aspect ratio and its batches shuffled."""
        glob = self.batch_size * self.world_size
        out = []
        for start in range(0, len(used), glob * self.group_window):
            window = used[start: start + glob * self.group_window]
            order = torch.sort(self.aspect_ratios[window], stable=True).indices
            batches = window[order].view(-1, glob)
            out.append(batches[torch.randperm(len(batches), generator=g)].flatten())
        return torch.cat(out) if out else used


class InferenceSampler(Sampler[int]):
    """Contiguous, unpadded shards for evaluation: rank r gets ``[start_r, end_r)``.

    Unlike ``DistributedSampler(shuffle=False)`` no image is repeated to even out the shards,
    so concatenating the ranks' outputs in rank order gives every image exactly once, in
    dataset order.
    """

    def __init__(self, size: int, rank: int = 0, world_size: int = 1) -> None:
        per_rank = math.ceil(size / world_size)
        self.start = min(rank * per_rank, size)
        self.end = min(self.start + per_rank, size)

    def __len__(self) -> int:
        return self.end - self.start

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.end))
