import pytest
import torch
import torch.multiprocessing as mp

from engine_toys import run_toy, toy_config
from openhoi.checkpoint import load_checkpoint
from openhoi.engine.distributed import (
    DistEnv,
    InferenceSampler,
    TrainSampler,
    all_gather_object,
    all_reduce_mean,
    broadcast_object,
    destroy_distributed,
    get_world_size,
    init_distributed,
    is_main_process,
    parse_torchrun_env,
    reduce_dict_mean,
)
from openhoi.engine.metrics import read_metrics


def test_torchrun_env_parsing():
    assert parse_torchrun_env({}) == DistEnv()
    env = parse_torchrun_env({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert env == DistEnv(rank=3, local_rank=1, world_size=4) and env.distributed


def test_single_process_collectives_are_identities():
    assert get_world_size() == 1 and is_main_process()
    x = torch.tensor([1.0, 2.0])
    assert torch.equal(all_reduce_mean(x), x)
    assert all_gather_object({"a": 1}) == [{"a": 1}]
    assert broadcast_object(5) == 5
    assert reduce_dict_mean({"b": torch.tensor(2.0), "a": torch.tensor(1.0)}) == {
        "a": 1.0, "b": 2.0}


def test_train_sampler_shards_cover_the_single_process_batches():
    """Rank r's k-th batch of 2, united over 2 ranks = the k-th batch of 4 of one process."""
    single = TrainSampler(10, batch_size=4, seed=7)
    ranks = [TrainSampler(10, batch_size=2, seed=7, rank=r, world_size=2) for r in range(2)]
    for s in [single, *ranks]:
        s.set_epoch(3)
    one = list(single)
    two = [list(s) for s in ranks]
    assert len(one) == 8 and all(len(x) == 4 for x in two)  # 10 -> 2 full steps of 4
    for k in range(2):
        union = sorted(two[0][2 * k:2 * k + 2] + two[1][2 * k:2 * k + 2])
        assert union == sorted(one[4 * k:4 * k + 4])
    single.set_epoch(4)
    assert list(single) != one  # a new shuffle every epoch


def test_aspect_grouping_batches_alike_shapes_and_keeps_the_sharding():
    """With grouping, batches hold alike aspect ratios, every image is used once per epoch,
    the 2-rank shards still unite to the 1-process batches, and epochs still differ."""
    ratios = [0.5, 2.0] * 12  # alternating: plain shuffles mix them
    single = TrainSampler(24, batch_size=4, seed=3, aspect_ratios=ratios, group_window=6)
    ranks = [TrainSampler(24, batch_size=2, seed=3, rank=r, world_size=2, aspect_ratios=ratios,
                          group_window=6) for r in range(2)]
    plain = TrainSampler(24, batch_size=4, seed=3)
    for s in [single, *ranks, plain]:
        s.set_epoch(1)
    one, two = list(single), [list(s) for s in ranks]
    assert sorted(one) == sorted(list(plain)) == list(range(24))
    batches = [one[k:k + 4] for k in range(0, 24, 4)]
    assert all(len({ratios[i] for i in b}) == 1 for b in batches)  # 12 of each: sorts cleanly
    mixed = [plain_b for plain_b in (list(plain)[k:k + 4] for k in range(0, 24, 4))
             if len({ratios[i] for i in plain_b}) > 1]
    assert mixed  # the plain shuffle does mix them
    for k in range(6):
        union = sorted(two[0][2 * k:2 * k + 2] + two[1][2 * k:2 * k + 2])
        assert union == sorted(one[4 * k:4 * k + 4])
    single.set_epoch(2)
    assert list(single) != one
    with pytest.raises(ValueError, match="aspect ratio per image"):
        TrainSampler(24, batch_size=4, seed=3, aspect_ratios=ratios[:5], group_window=2)


def test_inference_sampler_shards_without_repeats():
    shards = [list(InferenceSampler(7, r, 3)) for r in range(3)]
    assert shards == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(InferenceSampler(2, 2, 3)) == []


def _worker(rank: int, world: int, init: str, run_dir: str) -> None:
    from pathlib import Path

    torch.set_num_threads(1)  # 2 processes on a small CI machine
    init_distributed(DistEnv(rank=rank, local_rank=rank, world_size=world), "cpu", init)
    try:
        assert all_gather_object(rank) == list(range(world))
        assert reduce_dict_mean({"x": torch.tensor(float(rank))})["x"] == (world - 1) / 2
        run_toy(Path(run_dir), toy_config(epochs=2, batch_size=4), world_size=world)
    finally:
        destroy_distributed()


def test_two_gloo_processes_match_one_process(tmp_path):
    config = toy_config(epochs=2, batch_size=4)
    run_toy(tmp_path / "one", config)
    mp.spawn(_worker, args=(2, f"file://{tmp_path / 'rendezvous'}", str(tmp_path / "two")),
             nprocs=2, join=True)
    one = load_checkpoint(tmp_path / "one" / "checkpoints" / "last.pt")
    two = load_checkpoint(tmp_path / "two" / "checkpoints" / "last.pt")
    assert one["step"] == two["step"] == 2 * 24 // 4
    assert len(two["rng"]) == 2  # each rank's RNG state is kept
    for k, v in one["model"].items():
        torch.testing.assert_close(two["model"][k], v, rtol=1e-4, atol=1e-5)
    # losses gathered over ranks, and the sharded validation merged over ranks
    for kind, key in (("train_epoch", "loss"), ("val", "accuracy"), ("val", "num_images")):
        a = [r[key] for r in read_metrics(tmp_path / "one" / "metrics.jsonl") if r["kind"] == kind]
        b = [r[key] for r in read_metrics(tmp_path / "two" / "metrics.jsonl") if r["kind"] == kind]
        assert len(a) == len(b) == 2
        torch.testing.assert_close(torch.tensor(b), torch.tensor(a), rtol=1e-4, atol=1e-5)
