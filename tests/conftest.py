"""Fixtures shared by the test modules."""
import pytest
import torch

from tem.tem import attractor


@pytest.fixture(params=["fused", "pytorch"])
def implementation(request, monkeypatch):
    """Run a test with the fused CPU kernel (where it builds) and with the batched PyTorch products."""
    if request.param == "fused" and attractor.cpu_kernel() is None:
        pytest.skip("the fused attractor kernel did not build here")
    if request.param == "pytorch":
        monkeypatch.setattr(attractor, "_use_kernel", lambda query: False)
    return request.param


@pytest.fixture
def one_thread():
    """TEM runs many small sequential ops: one thread avoids OpenMP stalls on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def interrupted(monkeypatch):
    """``interrupted(run, step)``: call ``run()`` with training interrupted (as by Ctrl-C) when it
    reaches ``step``, and return what ``run()`` returns."""
    from tem.training import Run

    original = Run.train_step

    def call(run, step: int):
        def interrupt(self):
            if self.step == step:
                raise KeyboardInterrupt
            return original(self)

        monkeypatch.setattr(Run, "train_step", interrupt)
        try:
            return run()
        finally:
            monkeypatch.setattr(Run, "train_step", original)
    return call
