"""Walks drawn by worker processes: the same windows as one sampler per share of the slots, exact resume."""
import numpy as np
import pytest
import torch

from envs import WalkSampler, make_worlds
from envs.pool import WORKER_SEED_STRIDE, SamplerPool, split
from tem.training import Run

WORLDS = make_worlds("square:4")


def test_slots_are_split_evenly():
    assert split(10, 4) == [3, 3, 2, 2] and split(8, 1) == [8] and sum(split(16384, 16)) == 16384


@pytest.mark.parametrize("salient", [0, 2])
def test_each_worker_draws_what_its_own_sampler_would_and_resumes_exactly(salient):
    pool = SamplerPool(WORLDS, 5, 6, 18, n_objects=7, seed=11, workers=2, salient=salient)
    alone = [WalkSampler(WORLDS, slots, 6, 18, n_objects=7, seed=11 + i * WORKER_SEED_STRIDE, salient=salient)
             for i, slots in enumerate(split(5, 2))]
    try:
        for _ in range(3):
            window = pool.next_window()
            parts = [sampler.next_window() for sampler in alone]
            assert window.obs.shape == (5, 6) and window.new_world.shape == (5,)
            for field, got in zip(window._fields, window):
                np.testing.assert_array_equal(got, np.concatenate([getattr(part, field) for part in parts]))
        state = pool.state_dict()
        later = [pool.next_window() for _ in range(3)]
    finally:
        pool.close()
    resumed = SamplerPool(WORLDS, 5, 6, 18, n_objects=7, seed=99, workers=2, salient=salient)
    try:
        resumed.load_state_dict(state)
        for window in later:
            np.testing.assert_array_equal(resumed.next_window().obs, window.obs)
        with pytest.raises(ValueError, match="same --sampler-workers"):
            resumed.load_state_dict({key: value for key, value in state.items() if key.startswith("worker0.")})
    finally:
        resumed.close()


def test_bad_worker_counts_are_refused():
    with pytest.raises(ValueError, match="between 1 and the batch"):
        SamplerPool(WORLDS, 2, 6, 18, workers=3)
    with pytest.raises(ValueError, match="sampler_workers"):
        Run.start({"batch": 2, "sampler_workers": 3, "out": "/tmp/unused"})


def test_a_run_with_sampler_workers_resumes_exactly(tmp_path):
    config = {"batch": 4, "window": 8, "walk_length": 24, "world": "square:4", "n_objects": 6, "seed": 0,
              "threads": 1, "sampler_workers": 2, "temt.module_sizes": (8,), "temt.sensory_dim": 8,
              "temt.key_dim": 8, "out": str(tmp_path / "run")}
    straight = Run.start(config)
    for _ in range(4):
        straight.train_step()
    straight.close()
    first = Run.start(config)
    for _ in range(2):
        first.train_step()
    first.sync()
    checkpoint = first.checkpoint()
    first.close()
    second = Run(first.config, checkpoint)
    for _ in range(2):
        second.train_step()
    second.close()
    for x, y in zip(straight.model.parameters(), second.model.parameters()):
        assert torch.equal(x, y)


def test_one_sampler_refuses_a_pools_state():
    pool = SamplerPool(WORLDS, 4, 6, 18, n_objects=7, seed=0, workers=2)
    try:
        state = pool.state_dict()
    finally:
        pool.close()
    with pytest.raises(ValueError, match="same --sampler-workers"):
        WalkSampler(WORLDS, 4, 6, 18, n_objects=7).load_state_dict(state)
