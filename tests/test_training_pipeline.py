"""The training step's plumbing: windows drawn ahead, losses read back every few steps, --amp and --compile."""
import functools

import numpy as np
import pytest
import torch

from envs import WalkSampler, make_worlds
from tem.training import Run
from tem.training.prefetch import PrefetchingSampler

TINY = {"batch": 4, "window": 8, "walk_length": 24, "world": "square:4", "n_objects": 6, "seed": 0, "threads": 1,
        "temt.module_sizes": (8,), "temt.sensory_dim": 8, "temt.key_dim": 8}


def sampler(seed=3):
    return WalkSampler(make_worlds("square:4"), 4, 8, 24, n_objects=6, seed=seed)


def assert_same_windows(a, b):
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_prefetched_windows_are_the_synchronous_ones_and_resume_exactly():
    ahead, plain = PrefetchingSampler(sampler(), "cpu"), PrefetchingSampler(sampler(), "cpu", prefetch=False)
    for _ in range(4):
        assert_same_windows(ahead.next_window(), plain.next_window())
    state = ahead.state_dict()  # a window has been drawn ahead; the state is the one before it
    later = [ahead.next_window() for _ in range(3)]
    resumed = PrefetchingSampler(sampler(seed=99), "cpu")
    resumed.load_state_dict(state)
    for window in later:
        assert_same_windows(resumed.next_window(), window)
    for prefetcher in (ahead, plain, resumed):
        prefetcher.close()
    assert_same_windows(ahead.next_window(), resumed.next_window())  # closed: the rest is drawn synchronously
    assert_same_windows(ahead.next_window(), resumed.next_window())


def train(steps, tmp_path, **overrides):
    run = Run.start({**TINY, "out": str(tmp_path / "run"), **overrides})
    for _ in range(steps):
        run.train_step()
    run.sync()
    run.close()
    return run


def test_prefetching_does_not_change_training(tmp_path):
    ahead, plain = train(3, tmp_path, prefetch=True), train(3, tmp_path, prefetch=False)
    for (name, x), y in zip(ahead.model.state_dict().items(), plain.model.state_dict().values()):
        assert torch.equal(x, y), name
    assert ahead.running == plain.running


def test_losses_stay_on_the_device_until_synced(tmp_path):
    run = Run.start({**TINY, "out": str(tmp_path / "run")})
    losses = run.train_step()
    assert isinstance(losses["total"], torch.Tensor) and np.isnan(run.running["loss"])
    run.train_step()
    run.sync()
    assert np.isfinite(run.running["loss"]) and 0 <= run.running["acc"] <= 1
    run.close()


def test_a_non_finite_loss_is_caught_at_the_next_sync(tmp_path, monkeypatch):
    import tem.temt

    run = Run.start({**TINY, "out": str(tmp_path / "run")})
    run.train_step()
    monkeypatch.setattr(tem.temt.F, "cross_entropy", lambda logits, target: logits.sum() * float("inf"))
    run.train_step()
    run.train_step()
    with pytest.raises(FloatingPointError, match="at step 2"):
        run.sync()
    run.close()


def test_bf16_autocast_trains_and_keeps_the_path_integration_in_float32(tmp_path):
    run = train(2, tmp_path, amp="bf16")
    assert np.isfinite(run.running["loss"])
    obs, action, new_world = run.next_batch()
    with torch.autocast(run.device.type, dtype=torch.bfloat16):
        out = run.model(obs, action, new_world, run.state)
    assert out.state["position"].dtype == torch.float32 and out.logits.dtype == torch.bfloat16


def test_compiled_model_trains_like_the_eager_one(tmp_path, monkeypatch):
    # Dynamo traces the model; the eager backend keeps the test fast (inductor's code generation
    # takes about a minute on 2 cores and is torch's own business).
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    compiled, eager = train(2, tmp_path, compile=True), train(2, tmp_path)
    for x, y in zip(compiled.model.parameters(), eager.model.parameters()):
        torch.testing.assert_close(x, y)


def test_bad_run_options_are_refused():
    for bad, message in (({"amp": "fp8"}, "amp"), ({"log_every": 0}, "log_every")):
        with pytest.raises(ValueError, match=message):
            Run.start({**TINY, **bad})


def test_a_cuda_run_names_its_gpu_by_index(tmp_path, monkeypatch):
    from tem.training import run as run_module

    assert run_module.cuda_device(torch.device("cuda"), 0) == torch.device("cuda", 0)
    assert run_module.cuda_device(torch.device("cuda"), 3) == torch.device("cuda", 3)
    assert run_module.cuda_device(torch.device("cuda", 1), 0) == torch.device("cuda", 1)
    chosen = []

    def set_device(device):  # torch refuses a device without an index
        if not isinstance(device, int) and device.index is None:
            raise ValueError("Expected a torch.device with a specified index")
        chosen.append(device)
        raise RuntimeError("no GPU here: the device was set, the test stops")

    monkeypatch.setattr(run_module, "resolve_device", lambda name: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    with pytest.raises(RuntimeError, match="no GPU here"):
        Run.start({**TINY, "out": str(tmp_path / "run"), "device": "cuda"})
    assert chosen == [torch.device("cuda", 0)]
