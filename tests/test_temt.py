"""TEM-t building blocks and model: path integration, retrieval, memory units, training (shapes,
causality, slot resets and detached state of every model: tests/test_models.py)."""
import math

import numpy as np
import pytest
import torch

from envs import WalkSampler, make_worlds
from tem.memory import AttentionConfig, AttentionMemory, make_memory
from tem.model import Task
from tem.position import PositionCode
from tem.temt import TEMt, TEMtConfig
from tests.tiny import train_tiny

SQUARE = make_worlds("square:5")[0]
INVERSES = tuple(int(a) for a in SQUARE.inverse_actions)  # N<->S, E<->W
TASK = Task.from_world(SQUARE, n_objects=10)
N, E, S, W = range(4)


def small_model(**overrides) -> TEMt:
    torch.manual_seed(0)
    config = dict(module_sizes=(8,), sensory_dim=8, key_dim=8)
    return TEMt(TEMtConfig(**{**config, **overrides}), TASK)


def random_window(B=3, T=12, n_objects=10, seed=0):
    sampler = WalkSampler([SQUARE], B, T, 4 * T, n_objects=n_objects, seed=seed, stagger=False)
    batch = sampler.next_window()
    return tuple(torch.as_tensor(x) for x in (batch.obs, batch.action, batch.new_world))


def test_attention_units_are_the_walk_steps_that_wrote_them():
    """Column j of the activity is the memory written at walk step ``units[j]``, across windows and resets."""
    model = small_model()
    sampler = WalkSampler([SQUARE], 3, 6, 18, n_objects=10, seed=0, stagger=True)
    state, steps_into_walk = model.initial_state(3), np.zeros(3, dtype=int)
    for _ in range(7):
        batch = sampler.next_window()
        steps_into_walk[batch.new_world] = 0
        obs, action, new_world = (torch.as_tensor(x) for x in (batch.obs, batch.action, batch.new_world))
        out = model(obs, action, new_world, state, return_activity=True)
        units = out.memory_units.numpy()
        for b in range(3):  # the window's own memories are the last 6 columns, written at these steps
            assert units[b, -6:].tolist() == list(range(steps_into_walk[b], steps_into_walk[b] + 6))
            visible = out.memory_activity[b, -1].detach().numpy() > 0  # the last step reads only earlier steps of its walk
            assert (units[b, visible] >= 0).all() and (units[b, visible] < steps_into_walk[b] + 5).all()
        steps_into_walk += 6
        state = model.detach_state(out.state)


def _rotation_blocks(angles):
    """Block-diagonal 2x2 rotations: commuting orthogonal matrices."""
    blocks = [torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) for a in angles]
    return torch.block_diag(*blocks)


def test_hand_set_inverse_matrices_close_loops():
    code = PositionCode(4, (8,), action_matrices="free", inverse_actions=INVERSES)
    north, east = _rotation_blocks([0.3, 1.1, 0.7, 2.0]), _rotation_blocks([0.9, 0.2, 1.5, 0.4])
    with torch.no_grad():
        code.weight[:] = torch.stack([north, east, north.T, east.T])
    assert torch.allclose(code.matrices()[1 + N] @ code.matrices()[1 + S], torch.eye(8), atol=1e-6)
    start = torch.randn(2, 8)
    for loop in ([N, S], [N, E, W, S], [N, E, S, W], [E, E, N, W, W, S]):
        codes = code(torch.tensor([loop, loop]), start)
        torch.testing.assert_close(codes[:, -1], start, atol=1e-5, rtol=0)
        assert not torch.allclose(codes[:, 0], start, atol=1e-3)


def test_tied_orthogonal_matrices_are_exact_inverses():
    code = PositionCode(4, (8, 4), action_matrices="orthogonal_tied", inverse_actions=INVERSES)
    matrices = code.matrices()
    eye = torch.eye(12)
    for a, b in ((N, S), (E, W)):
        torch.testing.assert_close(matrices[1 + a] @ matrices[1 + b], eye, atol=1e-5, rtol=0)
        torch.testing.assert_close(matrices[1 + a].T @ matrices[1 + a], eye, atol=1e-5, rtol=0)
    assert torch.all(matrices[1:, :8, 8:] == 0)  # modules do not mix
    torch.testing.assert_close(matrices[0], eye)  # "no action" keeps the code


def test_stay_action_is_identity():
    world = make_worlds("square:4", stay_action=True)[0]
    code = PositionCode(5, (6,), "orthogonal", tuple(world.inverse_actions), world.stay_actions)
    torch.testing.assert_close(code.matrices()[1 + world.stay_actions[0]], torch.eye(6))


@pytest.mark.parametrize("norm", ["none", "layernorm", "l2"])
def test_norms_keep_shapes_and_normalise(norm):
    code = PositionCode(4, (4, 4), action_matrices="free", inverse_actions=INVERSES, norm=norm)
    out = code(torch.randint(0, 4, (2, 5)), code.initial_code(2))
    assert out.shape == (2, 5, 8)
    if norm == "layernorm":
        torch.testing.assert_close(out[..., :4].mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)


def test_attention_retrieves_exactly_at_large_beta():
    memory = AttentionMemory(key_dim=6, value_dim=4, beta=1e4, log_scale=False)
    keys = torch.eye(6)[None]  # (1, 6, 6) orthonormal keys
    values = torch.randn(1, 6, 4)
    stored = memory(keys, keys, values, memory.initial_state(1)).state
    query = keys[:, [4, 1, 2]]
    read = memory(query, query, torch.zeros(1, 3, 4), stored).read
    torch.testing.assert_close(read, values[:, [4, 1, 2]])


def test_attention_memory_reset_cap_and_empty_reads():
    memory = AttentionMemory(4, 3, cap=5)
    state = memory.initial_state(2)
    q = torch.randn(2, 4, 4)
    out = memory(q, q, torch.randn(2, 4, 3), state, return_activity=True)
    assert torch.all(out.read[:, 0] == 0)  # nothing stored before the first step
    state = memory.reset(out.state, torch.tensor([True, False]))
    out = memory(q, q, torch.randn(2, 4, 3), state, return_activity=True)
    assert torch.all(out.read[0, 0] == 0) and torch.any(out.read[1, 0] != 0)
    assert out.state["keys"].shape[1] <= 5
    assert torch.all(out.activity[1].gt(0).sum(-1) <= 5)  # at most `cap` memories read


def test_fused_and_explicit_attention_agree():
    model = small_model(memory=AttentionConfig(cap=7))
    state = model.initial_state(3)
    for seed in range(3):
        obs, action, new_world = random_window(seed=seed)
        fused = model(obs, action, new_world, state)
        explicit = model(obs, action, new_world, state, return_activity=True)
        torch.testing.assert_close(fused.logits, explicit.logits, atol=1e-4, rtol=1e-4)
        state = fused.state


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="action_matrices"):
        PositionCode(4, (8,), action_matrices="unitary")
    with pytest.raises(ValueError, match="norm"):
        PositionCode(4, (8,), norm="batchnorm")
    with pytest.raises(ValueError, match="module_sizes"):
        PositionCode(4, (0,))
    with pytest.raises(ValueError, match="not a memory config"):
        make_memory("hebbian", 4, 4)
    with pytest.raises(ValueError, match="cap"):
        AttentionMemory(4, 4, cap=-1)


def test_tiny_training_beats_chance_on_revisits():
    from analysis.evaluate import evaluate

    torch.manual_seed(0)
    worlds = make_worlds("square:5")
    model = TEMt(TEMtConfig(module_sizes=(16,), sensory_dim=16, key_dim=16), TASK)
    train_tiny(model, worlds, steps=60, lr=3e-3)
    scores = evaluate(model, worlds, 8, 100, n_objects=10, window=20, seed=1)
    assert scores["node_visited_acc"] > 0.3  # chance is 0.1
    assert np.isfinite(scores["first_visit_acc"])


def test_auto_transitions_follow_what_the_world_declares():
    from tem.temt import transitions_for

    def chosen(spec, **config):
        return transitions_for(TEMtConfig(**config), Task.from_world(make_worlds(spec)[0], 10))

    for spec in ("square:4", "periodic-square:4", "hex:4", "line:4", "square+stay:4", "line-jumps2:6"):
        assert chosen(spec) == ("commuting", "none"), spec  # lattices: translations, exact on every loop
    assert chosen("ring:5") == ("orthogonal_tied", "none")  # a group without steps on the plane
    assert chosen("square:4", module_sizes=(7,)) == ("orthogonal_tied", "none")  # planes need even sizes
    assert chosen("family-tree:2") == ("free", "layernorm")  # a parent merges two children
    assert chosen("family-tree:2", action_matrices="orthogonal") == ("orthogonal", "none")  # overridable
    assert chosen("family-tree:2", norm="l2") == ("free", "l2")


def test_auto_inference_is_on_where_moves_merge_nodes_and_overridable():
    from tem.temt import inference_for

    def infers(spec, **config):
        return inference_for(TEMtConfig(**config), Task.from_world(make_worlds(spec)[0], 10))

    assert infers("family-tree:2") and infers("family-tree-10:2")  # a parent merges two children
    for spec in ("square:4", "periodic-square:4", "ring:5", "line-jumps2:6"):
        assert not infers(spec), spec
    assert infers("square:4", inference="on") and not infers("family-tree:2", inference="off")
    assert TEMtConfig(inference=True).inference == "on" and TEMtConfig(inference=False).inference == "off"  # old configs
    with pytest.raises(ValueError, match="inference"):
        TEMtConfig(inference="sometimes")
