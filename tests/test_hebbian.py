"""Hebbian memory: the stored vectors stand for the dense formula, and reads/attractor equal it."""
import pytest
import torch

from tem.model import map_state
from tem.tem import attractor
from tem.tem.attractor import hippocampal_activation
from tem.tem.hebbian import HebbianMemory

SIZES = (6, 4, 3)  # cells per module; padded layout: 3 modules x 6


def random_p(memory, *shape, seed=0):
    """Random hippocampal vectors in the padded layout (zeros in the padding)."""
    g = torch.Generator().manual_seed(seed)
    return memory.pad(torch.rand(*shape, memory.n_units, generator=g) - 0.3)


def random_dense(memory, batch, seed):
    """A random folded part ``(batch, width, width)`` as a memory holds one (:meth:`HebbianMemory.dense`):
    zero in the padding and where the memory has no connection."""
    g = torch.Generator().manual_seed(seed)
    dense = torch.rand(batch, memory.n_units, memory.n_units, generator=g) - 0.3
    return memory.pad(memory.pad(dense).transpose(1, 2)).transpose(1, 2) * memory.connection_mask()


def port_mask(sizes, hierarchical):
    """M_ij allowed iff module(i) >= module(j) (from low to high frequency), dense layout."""
    module = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return (module[:, None] >= module[None, :]).float() if hierarchical else torch.ones(sum(sizes), sum(sizes))


def dense_formula(memory, p, p_hat, etas, lams):
    """The port's update M_t = lambda M_{t-1} + eta (p + p^)^T (p - p^) (masked), unclamped, dense layout."""
    p, p_hat = memory.unpad(p), memory.unpad(p_hat)
    M = torch.zeros(p.shape[0], memory.n_units, memory.n_units)
    mask = port_mask(memory.module_sizes, memory.hierarchical)
    for t in range(p.shape[1]):
        outer = (p[:, t] + p_hat[:, t])[:, :, None] * (p[:, t] - p_hat[:, t])[:, None, :]
        M = lams[t] * M + etas[t] * outer * mask
    return M


@pytest.mark.parametrize("hierarchical", [True, False])
def test_hebbian_update_equals_formula(hierarchical):
    memory = HebbianMemory(SIZES, hierarchical=hierarchical)
    p, p_hat = random_p(memory, 2, 7, seed=1), random_p(memory, 2, 7, seed=2)
    etas, lams = [0.5, 0.3, 0.5, 0.1, 0.5, 0.5, 0.2], [0.9, 0.99, 0.9999, 0.5, 0.9, 0.9, 0.8]
    state = memory.initial_state(2)
    for t in range(7):  # one step per window, schedules changing as during training
        state = memory.append(state, (p + p_hat)[:, t:t + 1], (p - p_hat)[:, t:t + 1], torch.tensor([etas[t]]), lams[t])
    expected = dense_formula(memory, p, p_hat, etas, lams)
    idx = memory.real_index
    torch.testing.assert_close(memory.dense(state)[:, idx][:, :, idx], expected)
    # a whole window at once: weights eta lambda^(T-1-tau), carried strengths times lambda^T
    lam, eta = 0.95, 0.4
    one = memory.append(memory.initial_state(2), (p + p_hat)[:, :3], (p - p_hat)[:, :3],
                        eta * lam ** torch.arange(2, -1, -1.0), lam ** 3)
    two = memory.append(one, (p + p_hat)[:, 3:], (p - p_hat)[:, 3:], eta * lam ** torch.arange(3, -1, -1.0), lam ** 4)
    torch.testing.assert_close(memory.dense(two)[:, idx][:, :, idx], dense_formula(memory, p, p_hat, [eta] * 7, [lam] * 7))


def dense_attractor(memory, query, M, kappa, iterations):
    """Plain autograd: ``h <- f(kappa h + h M)`` with a dense ``M (B, width, width)``, module ``f``
    updating in its first ``iterations[f]`` iterations."""
    updates = torch.tensor(iterations)[torch.arange(memory.width) // memory.module_width]
    h = hippocampal_activation(query)
    for i in range(max(iterations)):
        h = torch.where(updates > i, hippocampal_activation(kappa * h + h @ M), h)
    return h


def reference_attractor(memory, query, keys, values, weights, kappa, iterations, dense=None):
    """:func:`dense_attractor` with ``M = sum_m w_m k_m^T v_m`` (masked) ``+ dense``, from flat
    ``keys, values (B, M, width)``, ``weights (B, M)``."""
    M = torch.einsum("bm,bmi,bmj->bij", weights, keys, values) * memory.connection_mask()
    return dense_attractor(memory, query, M if dense is None else M + dense, kappa, iterations)


@pytest.mark.parametrize("hierarchical", [True, False])
def test_attractor_equals_dense_formula(hierarchical, implementation):
    memory = HebbianMemory(SIZES, hierarchical=hierarchical)
    keys, values = random_p(memory, 3, 9, seed=3), random_p(memory, 3, 9, seed=4)
    weights = torch.rand(3, 9)
    state = {"keys": memory.to_modules(keys), "values": memory.to_modules(values), "strength": weights,
             "dense": torch.zeros(3, 0, 0)}
    M = memory.dense(state)  # (3, width, width): sum_m w_m k_m^T v_m, masked
    torch.testing.assert_close(M, torch.einsum("bm,bmi,bmj->bij", weights, keys, values) * memory.connection_mask())
    h, iterations = random_p(memory, 3, 2, seed=5), (4, 2, 1)  # low-frequency modules stop early
    torch.testing.assert_close(memory.attractor(h, memory.carried(state, 0.5), 0.8, iterations),
                               dense_attractor(memory, h, 0.5 * M, 0.8, iterations))
    with_grad = memory.part(keys.clone().requires_grad_(), values.clone().requires_grad_(), weights)
    out = memory.attractor(h, with_grad, 0.8, iterations)
    torch.testing.assert_close(out.detach(), dense_attractor(memory, h, M, 0.8, iterations))
    assert torch.all(memory.unpad(memory.pad(torch.ones(1, memory.n_units))) == 1)
    unit_module = torch.arange(memory.width) // memory.module_width
    assert torch.all(out[..., unit_module.eq(2) & (torch.arange(memory.width) % 6 >= 3)] == 0)  # padding


@pytest.mark.parametrize("hierarchical, iterations, with_dense", [
    (True, (4, 2, 1), False), (False, (3, 3, 3), False), (True, (3, 3, 1), True), (False, (2, 1, 1), True)])
def test_attractor_gradients_equal_autograd(hierarchical, iterations, with_dense, implementation):
    """The hand-written backward pass gives autograd's gradients (float64) for the query and this
    window's keys and values, with modules that stop early, either connectivity and a dense part."""
    memory = HebbianMemory(SIZES, hierarchical=hierarchical).double()
    keys, values = (0.5 * random_p(memory, 3, 9, seed=s).double() for s in (3, 4))
    weights = torch.rand(3, 9, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    query = (2 * random_p(memory, 3, 2, seed=6).double()).requires_grad_()  # partly beyond [-1, 1]: the clamp acts
    dense = 0.1 * random_dense(memory, 3, seed=7).double() if with_dense else None
    own_keys, own_values = (x[:, 5:].clone().requires_grad_() for x in (keys, values))
    part = memory.part(torch.cat([keys[:, :5], own_keys], 1), torch.cat([values[:, :5], own_values], 1), weights)
    out = memory.attractor(query, part, 0.8, iterations, dense)
    expected = reference_attractor(memory, query, torch.cat([keys[:, :5], own_keys], 1),
                                   torch.cat([values[:, :5], own_values], 1), weights, 0.8, iterations, dense)
    torch.testing.assert_close(out, expected)
    assert (out == 1).any() and ((out > 0) & (out < 1)).sum() > out.numel() // 4  # some units saturate, many do not
    grad_out = torch.randn_like(out)
    grads = torch.autograd.grad(out, (query, own_keys, own_values), grad_out)
    for grad, expected_grad in zip(grads, torch.autograd.grad(expected, (query, own_keys, own_values), grad_out)):
        torch.testing.assert_close(grad, expected_grad)
        assert grad.abs().sum() > 0


@pytest.mark.parametrize("hierarchical, with_dense", [(True, False), (False, False), (True, True), (False, True)])
def test_window_memory_reads_writes_and_gradients_equal_autograd(hierarchical, with_dense, implementation):
    """A window read step by step from its preallocated buffer (carried pairs, then each step's pair
    written after its read) equals the dense formula at every step, gives autograd's gradients to the
    written pairs and the queries (float64), and leaves the state that append leaves."""
    memory = HebbianMemory(SIZES, hierarchical=hierarchical, dense_after=0).double()
    carried_keys, carried_values = (0.5 * random_p(memory, 3, 4, seed=s).double() for s in (1, 2))
    strength = torch.rand(3, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64) + 0.1
    state = memory.append(map_state(torch.Tensor.double, memory.initial_state(3)), carried_keys, carried_values,
                          strength, 1.0)
    if with_dense:
        state["dense"] = 0.1 * random_dense(memory, 3, seed=9).double()
    eta, lam, T, iterations = 0.4, 0.9, 4, (3, 2, 1)
    queries = (2 * random_p(memory, 3, T, 2, seed=3).double()).requires_grad_()
    noise = (0.3 * random_p(memory, 3, T, seed=4).double()).requires_grad_()
    window, reads = memory.window(state, T, eta, lam), []
    for t in range(T):
        reads.append(window.read(queries[:, t], 0.8, iterations))
        window.write(reads[-1][:, 0] + noise[:, t], reads[-1][:, 1] - noise[:, t])
    keys, values, expected = [], [], []  # the reference, through autograd from the dense formula
    for t in range(T):  # M_{t-1}: the carried pairs weigh strength lam^t, this window's eta lam^(t-1-tau)
        M = torch.einsum("bm,bmi,bmj->bij", strength * lam ** t, carried_keys, carried_values) * memory.connection_mask()
        M = M + (state["dense"] * lam ** t if with_dense else 0)
        for tau in range(t):
            M = M + eta * lam ** (t - 1 - tau) * keys[tau][:, :, None] * values[tau][:, None, :] * memory.connection_mask()
        expected.append(dense_attractor(memory, queries[:, t], M, 0.8, iterations))
        keys.append(expected[-1][:, 0] + noise[:, t])
        values.append(expected[-1][:, 1] - noise[:, t])
    for read, reference in zip(reads, expected):
        torch.testing.assert_close(read, reference)
    grad_out = torch.randn(3, T, 2, memory.width, dtype=torch.float64)
    grads = torch.autograd.grad(torch.stack(reads, 1), (queries, noise), grad_out)
    expected_grads = torch.autograd.grad(torch.stack(expected, 1), (queries, noise), grad_out)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad)
        assert grad.abs().sum() > 0
    after = memory.append(state, torch.stack(keys, 1).detach(), torch.stack(values, 1).detach(),
                          eta * lam ** torch.arange(T - 1, -1, -1.0, dtype=torch.float64), lam ** T)
    for key, value in window.final_state().items():
        torch.testing.assert_close(value, after[key], msg=key)


@pytest.mark.parametrize("hierarchical", [True, False])
def test_window_reads_without_grad_skip_the_function_with_the_same_values(hierarchical, implementation, monkeypatch):
    """In inference mode (the analyses' walks) a window calls the fused kernel without the autograd
    Function and keeps no rows for gradients; its reads are bitwise those with autograd on."""
    memory = HebbianMemory(SIZES, hierarchical=hierarchical, dense_after=0)
    state = memory.append(memory.initial_state(3), 0.5 * random_p(memory, 3, 4, seed=1), 0.5 * random_p(memory, 3, 4, seed=2),
                          torch.rand(3, 4, generator=torch.Generator().manual_seed(5)) + 0.1, 1.0)
    state["dense"] = 0.1 * random_dense(memory, 3, seed=9)
    queries = 2 * random_p(memory, 3, 4, 2, seed=3)

    def walk():
        window, reads = memory.window(state, 4, 0.4, 0.9), []
        for t in range(4):
            reads.append(window.read(queries[:, t], 0.8, (3, 2, 1)))
            window.write(reads[-1][:, 0], reads[-1][:, 1])
        return torch.stack(reads), window

    with_grad, window = walk()
    assert all(row is not None for row in window.key_rows)
    if implementation == "fused":
        for function in (attractor.FlatAttractor, attractor.ModularAttractor):
            monkeypatch.setattr(function, "apply", None)  # a call fails
    with torch.inference_mode():
        without, window = walk()
    assert window.key_rows == [None] * 4 and window.value_rows == [None] * 4
    assert torch.equal(without, with_grad) and without.abs().sum() > 0


def test_fold_into_dense_keeps_reads_when_clamp_is_inactive(implementation):
    memory = HebbianMemory(SIZES, dense_after=5)
    keys, values = 0.3 * random_p(memory, 2, 8, seed=6), 0.3 * random_p(memory, 2, 8, seed=7)
    vectors = memory.append(HebbianMemory(SIZES, dense_after=0).initial_state(2), keys, values, torch.full((8,), 0.5), 1.0)
    folded = memory.append(memory.initial_state(2), keys, values, torch.full((8,), 0.5), 1.0)
    assert folded["keys"].shape[2] == 0 and folded["dense"].shape == (2, memory.width, memory.width)
    assert memory.dense(vectors).abs().max() < 1  # the clamp does nothing here
    torch.testing.assert_close(memory.dense(folded), memory.dense(vectors))
    h = random_p(memory, 2, 1, seed=8)
    torch.testing.assert_close(memory.attractor(h, memory.carried(folded), 0.8, (2, 1, 1), folded["dense"]),
                               dense_attractor(memory, h, memory.dense(vectors), 0.8, (2, 1, 1)))


def test_reset_cap_and_bad_input():
    memory = HebbianMemory(SIZES, cap=4)
    keys = random_p(memory, 2, 6)
    state = memory.append(memory.initial_state(2), keys, keys, torch.ones(6), 1.0)
    assert state["keys"].shape[2] == 4  # the 4 most recent
    state = memory.reset(state, torch.tensor([True, False]))
    assert torch.all(memory.dense(state)[0] == 0) and torch.any(memory.dense(state)[1] != 0)
    with pytest.raises(ValueError, match="cap"):
        HebbianMemory(SIZES, cap=-1)


@pytest.mark.parametrize("missing", ["no C++ compiler", "Ninja is required to load C++ extensions"])
def test_without_a_compiler_or_ninja_the_kernel_falls_back_with_a_warning(monkeypatch, missing):
    import torch.utils.cpp_extension

    def no_compiler(*args, **kwargs):
        raise RuntimeError(missing)

    monkeypatch.setattr(torch.utils.cpp_extension, "load", no_compiler)
    attractor.cpu_kernel.cache_clear()
    try:
        with pytest.warns(UserWarning, match=missing.split()[0]):
            assert attractor.cpu_kernel() is None
        memory = HebbianMemory(SIZES, hierarchical=False)
        keys, values = random_p(memory, 2, 5, seed=1), random_p(memory, 2, 5, seed=2)
        weights = torch.rand(2, 5)
        h = random_p(memory, 2, 1, seed=3)
        M = torch.einsum("bm,bmi,bmj->bij", weights, keys, values)
        torch.testing.assert_close(memory.attractor(h, memory.part(keys, values, weights), 0.8, (2, 2, 2)),
                                   dense_attractor(memory, h, M, 0.8, (2, 2, 2)))
    finally:
        attractor.cpu_kernel.cache_clear()
