"""The model contract (tem.model.Model), checked for every model and memory: shapes and unit
identities, causality, slot resets, detached state, carried-state resume, losses that mutate nothing."""
import pytest
import torch

from envs import WalkSampler, make_worlds
from tem.checkpoint import build_model
from tem.memory import AttentionConfig, SDMConfig
from tem.model import UNIT_KINDS, Model, Task
from tem.tem import TEMConfig
from tem.temt import TEMtConfig

SQUARE = make_worlds("square:4")[0]
TASK = Task.from_world(SQUARE, n_objects=10)
TEM_TINY = dict(g_sizes=(6, 6), g_sub_sizes=(3, 3), frequencies=(0.99, 0.3), n_x_c=5,
                inference_iterations=(3, 3), generative_iterations=(3, 2), eta_ramp=1, lambda_ramp=1)
TEMT_TINY = dict(module_sizes=(8,), sensory_dim=8, key_dim=8)
CONFIGS = {
    "temt-attention": TEMtConfig(**TEMT_TINY),
    "temt-attention-capped": TEMtConfig(**TEMT_TINY, memory=AttentionConfig(cap=5)),
    "temt-sdm-topk": TEMtConfig(**TEMT_TINY, memory=SDMConfig(neurons=64, top_k=4)),
    "temt-sdm-threshold": TEMtConfig(**TEMT_TINY, memory=SDMConfig(neurons=64, activation="threshold", radius=3)),
    "temt-cells": TEMtConfig(module_sizes=(4, 4), action_matrices="commuting", cells_per_module=3, sensory_dim=8,
                             key_dim=8, nonneg_weight=0.1),
    "temt-inference": TEMtConfig(**TEMT_TINY, inference=True),
    "temt-inference-sdm-cells": TEMtConfig(module_sizes=(4, 4), action_matrices="commuting", cells_per_module=3,
                                           sensory_dim=8, key_dim=8, inference=True,
                                           memory=SDMConfig(neurons=64, top_k=4)),
    "tem": TEMConfig(**TEM_TINY),
}
B, T = 3, 12


@pytest.fixture(params=list(CONFIGS), ids=list(CONFIGS))
def model(request) -> Model:
    torch.manual_seed(0)
    return build_model(CONFIGS[request.param], TASK)


pytestmark = pytest.mark.usefixtures("one_thread")


def window(T=T, seed=0, walk=None):
    sampler = WalkSampler([SQUARE], B, T, walk or 4 * T, n_objects=10, seed=seed, stagger=False)
    batch = sampler.next_window()
    return tuple(torch.as_tensor(x) for x in (batch.obs, batch.action, batch.new_world))


def tensors(state):
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for value in state.values() for t in tensors(value)] if isinstance(state, dict) else []


def test_shapes_units_and_declarations(model):
    obs, action, new_world = window()
    out = model(obs, action, new_world, model.initial_state(B), return_activity=True)
    assert out.logits.shape == (B, T, TASK.n_objects)
    assert out.mec.shape == (B, T, sum(model.mec_modules()))
    n_units = out.memory_activity.shape[-1]
    assert out.memory_activity.shape[:2] == (B, T) and out.memory_units.shape == (B, n_units)
    assert model.hippocampal_units in UNIT_KINDS
    if model.hippocampal_units == "neuron":  # a fixed population: column j is neuron j
        assert torch.equal(out.memory_units, torch.arange(n_units).expand(B, -1))
    else:  # a growing memory: its columns are the steps of the walk so far
        assert torch.equal(out.memory_units[:, -T:], torch.arange(T).expand(B, -1))
    quiet = model(obs, action, new_world, model.initial_state(B))
    assert quiet.memory_activity is None and quiet.memory_units is None
    torch.testing.assert_close(quiet.logits, out.logits, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("return_activity", [False, True])
def test_prediction_at_t_ignores_observations_from_t_on(model, return_activity):
    obs, action, new_world = window()
    state = model.initial_state(B)
    reference = model(obs, action, new_world, state, return_activity=return_activity).logits
    for t in (0, 5, T - 1):
        changed = obs.clone()
        changed[:, t:] = (changed[:, t:] + 3) % TASK.n_objects
        logits = model(changed, action, new_world, state, return_activity=return_activity).logits
        torch.testing.assert_close(logits[:, : t + 1], reference[:, : t + 1])
        if t < T - 1:
            assert not torch.allclose(logits[:, t + 1:], reference[:, t + 1:])


def test_new_world_resets_its_slot_only(model):
    obs, action, new_world = window()
    out = model(obs, action, new_world, model.initial_state(B))
    fresh = model(obs, action, torch.ones(B, dtype=torch.bool), model.initial_state(B)).logits
    again = model(obs, action, torch.tensor([True, False, False]), out.state).logits
    torch.testing.assert_close(again[0], fresh[0])
    assert not torch.allclose(again[1], fresh[1])


def test_detached_state_carries_no_graph(model):
    obs, action, new_world = window()
    out = model(obs, action, new_world, model.initial_state(B))
    assert any(t.requires_grad for t in tensors(out.state))
    detached = model.detach_state(out.state)
    assert not any(t.requires_grad for t in tensors(detached))
    assert all(torch.equal(a, b) for a, b in zip(tensors(out.state), tensors(detached)))


def test_two_windows_with_carried_state_equal_one(model):
    obs, action, new_world = window(T=12, walk=24)
    whole = model(obs, action, new_world, model.initial_state(B))
    first = model(obs[:, :5], action[:, :5], new_world, model.initial_state(B))
    second = model(obs[:, 5:], action[:, 5:], torch.zeros_like(new_world), model.detach_state(first.state))
    torch.testing.assert_close(torch.cat([first.logits, second.logits], 1), whole.logits, atol=1e-5, rtol=1e-4)


def test_losses_are_named_and_mutate_nothing(model):
    obs, action, new_world = window()
    state = model.initial_state(B)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    out = model(obs, action, new_world, state, step=3)
    losses = model.losses(out, obs, step=3)
    assert "total" in losses and all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    losses["total"].backward()
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())
    torch.testing.assert_close(model(obs, action, new_world, state, step=3).logits, out.logits)


def test_the_models_import_neither_the_worlds_nor_the_analysis():
    import subprocess
    import sys

    code = ("import sys, tem, tem.memory, tem.tem, tem.temt, tem.checkpoint; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('envs', 'analysis') or m == 'tem.training'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
