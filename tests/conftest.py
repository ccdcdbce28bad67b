"""Fixtures shared by the test modules."""
import pytest

from tem.tem import attractor


@pytest.fixture(params=["fused", "pytorch"])
def implementation(request, monkeypatch):
    """Run a test with the fused CPU kernel (where it builds) and with the batched PyTorch products."""
    if request.param == "fused" and attractor.cpu_kernel() is None:
        pytest.skip("the fused attractor kernel did not build here")
    if request.param == "pytorch":
        monkeypatch.setattr(attractor, "_use_kernel", lambda query: False)
    return request.param
