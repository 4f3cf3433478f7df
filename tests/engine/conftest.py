"""Engine tests run their tiny models on one thread: on a small shared machine, torch's
intra-op threads cost more in contention than they gain."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
