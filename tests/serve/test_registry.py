"""The model registry: one worker thread in arrival order, a bounded wait, open-vocabulary
copies that never change the served model."""

from __future__ import annotations

import asyncio
import threading

import pytest

from openhoi.serve import ModelRegistry, ServeLimits
from openhoi.serve.registry import OPEN_VOCAB_CACHE, ServeError, ServerBusyError


def test_calls_run_on_one_thread_in_order_and_overload_is_refused():
    registry = ModelRegistry(limits=ServeLimits(max_waiting=3))
    release = threading.Event()
    order, threads = [], set()

    def job(k: int) -> int:
        if k == 0:
            release.wait(10)
        order.append(k)
        threads.add(threading.get_ident())
        return k

    async def main() -> list:
        tasks = [asyncio.ensure_future(registry.run(job, k)) for k in range(3)]
        await asyncio.sleep(0.05)  # the three are queued, the first one blocks the worker
        with pytest.raises(ServerBusyError, match="3 requests waiting"):
            await registry.run(job, 3)
        release.set()
        return await asyncio.gather(*tasks)

    try:
        assert asyncio.run(main()) == [0, 1, 2]
    finally:
        registry.close()
    assert order == [0, 1, 2]
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_open_vocabulary_copies_leave_the_served_model_alone(checkpoints):
    registry = ModelRegistry.from_checkpoints(checkpoints[:1], device="cpu")
    try:
        base = registry.get(None).predictor
        trained = base.label_space
        lists = [("hold cup", "fly kite"), ("sit on chair",), ("kick sports ball", "ride horse")]
        copies = [registry.predictor("tiny", entries) for entries in lists]
        assert [c.label_space.num_interactions for c in copies] == [2, 1, 2]
        assert all(c is not base and c.model is not base.model for c in copies)
        assert base.label_space is trained and registry.predictor(None, None) is base
        assert registry.predictor("tiny", lists[2]) is copies[2]  # kept for the next request
        assert len(registry._open_vocab) == OPEN_VOCAB_CACHE  # the oldest list was dropped
        with pytest.raises(ServeError, match="no model named 'nope'"):
            registry.predictor("nope", None)
    finally:
        registry.close()


def test_limits_and_missing_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(ServeError, match="max_waiting must be at least 1"):
        ServeLimits(max_waiting=0)
    with pytest.raises(ServeError, match="missing.pt: checkpoint file not found"):
        ModelRegistry.from_checkpoints([tmp_path / "missing.pt"])
    with pytest.raises(ServeError, match="no model is loaded"):
        ModelRegistry().get(None)
