"""Hebbian memory: the stored vectors stand for the dense formula, and reads/attractor equal it."""
import pytest
import torch

from tem.memory import HebbianMemory, make_memory
from tem.memory.hebbian import hippocampal_activation

SIZES = (6, 4, 3)  # cells per module; padded layout: 3 modules x 6


def random_p(memory, *shape, seed=0):
    """Random hippocampal vectors in the padded layout (zeros in the padding)."""
    g = torch.Generator().manual_seed(seed)
    return memory.pad(torch.rand(*shape, memory.n_units, generator=g) - 0.3)


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


def as_part(memory, keys, values, weights):
    """A readable part from flat ``keys, values (B, M, width)``, ``weights (B, M)``."""
    return memory.part(memory.to_modules(keys).transpose(0, 1), memory.to_modules(values).transpose(0, 1), weights)


def read_flat(memory, h, parts, dense=None):
    """``h (B, Q, width)`` -> ``h M`` ``(B, Q, width)``."""
    return memory.flat(memory.read(memory.module_major(h), parts, dense))


@pytest.mark.parametrize("hierarchical", [True, False])
def test_efficient_read_and_attractor_equal_dense(hierarchical):
    memory = HebbianMemory(SIZES, hierarchical=hierarchical)
    keys, values = random_p(memory, 3, 9, seed=3), random_p(memory, 3, 9, seed=4)
    weights = torch.rand(3, 9)
    state = {"keys": memory.to_modules(keys), "values": memory.to_modules(values), "strength": weights,
             "dense": torch.zeros(3, 0, 0)}
    M = memory.dense(state)  # (3, width, width): sum_m w_m k_m^T v_m, masked
    h = random_p(memory, 3, 2, seed=5)
    torch.testing.assert_close(read_flat(memory, h, [as_part(memory, keys, values, weights)]), h @ M)
    torch.testing.assert_close(read_flat(memory, h, [memory.carried(state, 0.5)]), 0.5 * h @ M)
    # attractor h <- f(kappa h + h M), with low-frequency modules stopping early
    unit_module = torch.arange(memory.width) // memory.module_width
    iterations = (4, 2, 1)
    expected = hippocampal_activation(h)
    for i in range(4):
        new = hippocampal_activation(0.8 * expected + expected @ M)
        expected = torch.where(torch.tensor(iterations)[unit_module] > i, new, expected)
    # two parts, one with gradients (as this window's memories), which is read differently
    own_keys, own_values = (x[:, 4:].clone().requires_grad_() for x in (keys, values))
    parts = [as_part(memory, keys[:, :4], values[:, :4], weights[:, :4]),
             as_part(memory, own_keys, own_values, weights[:, 4:])]
    torch.testing.assert_close(memory.attractor(h, parts, 0.8, iterations).detach(), expected)
    assert torch.all(memory.unpad(memory.pad(torch.ones(1, memory.n_units))) == 1)
    assert torch.all(memory.attractor(h, parts, 0.8, iterations)[..., unit_module.eq(2) & (torch.arange(memory.width) % 6 >= 3)] == 0)


def test_fold_into_dense_keeps_reads_when_clamp_is_inactive():
    memory = HebbianMemory(SIZES, dense_after=5)
    keys, values = 0.3 * random_p(memory, 2, 8, seed=6), 0.3 * random_p(memory, 2, 8, seed=7)
    vectors = memory.append(HebbianMemory(SIZES, dense_after=0).initial_state(2), keys, values, torch.full((8,), 0.5), 1.0)
    folded = memory.append(memory.initial_state(2), keys, values, torch.full((8,), 0.5), 1.0)
    assert folded["keys"].shape[2] == 0 and folded["dense"].shape == (2, memory.width, memory.width)
    assert memory.dense(vectors).abs().max() < 1  # the clamp does nothing here
    torch.testing.assert_close(memory.dense(folded), memory.dense(vectors))
    h = random_p(memory, 2, 1, seed=8)
    torch.testing.assert_close(read_flat(memory, h, [], folded["dense"]), h @ memory.dense(vectors))
    unit_module = torch.arange(memory.width) // memory.module_width
    expected = hippocampal_activation(h)
    for i in range(2):
        new = hippocampal_activation(0.8 * expected + expected @ memory.dense(vectors))
        expected = torch.where(torch.tensor((2, 1, 1))[unit_module] > i, new, expected)
    torch.testing.assert_close(memory.attractor(h, [memory.carried(folded)], 0.8, (2, 1, 1), folded["dense"]), expected)


def test_reset_cap_and_bad_input():
    memory = HebbianMemory(SIZES, cap=4)
    keys = random_p(memory, 2, 6)
    state = memory.append(memory.initial_state(2), keys, keys, torch.ones(6), 1.0)
    assert state["keys"].shape[2] == 4  # the 4 most recent
    state = memory.reset(state, torch.tensor([True, False]))
    assert torch.all(memory.dense(state)[0] == 0) and torch.any(memory.dense(state)[1] != 0)
    with pytest.raises(ValueError, match="cap"):
        HebbianMemory(SIZES, cap=-1)
    with pytest.raises(ValueError, match="--model tem"):
        make_memory("hebbian", 8, 8)
    with pytest.raises(NotImplementedError):
        memory(keys, keys, keys, state)
