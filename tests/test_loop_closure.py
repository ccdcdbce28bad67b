"""Loop closure (tem.loop_closure): a commuting code finds a torus's sides within a walk and snaps back
onto the places it stored; on a bounded grid it never moves the code; the model stays causal."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from envs import WalkSampler, make_worlds
from tem.checkpoint import build_model
from tem.loop_closure import LoopClosure, rotate
from tem.model import Task
from tem.position import PositionCode
from tem.temt import TEMtConfig, loop_closure_for

pytestmark = pytest.mark.usefixtures("one_thread")


def walk_codes(spec: str, *, batch=6, window=25, length=600, n_objects=45, seed=0):
    """Path-integrate walks with a random commuting code, closing loops window by window."""
    torch.manual_seed(seed)
    worlds = make_worlds(spec)
    task = Task.from_world(worlds[0], n_objects)
    position = PositionCode(task.n_actions, (16,), "commuting", task.inverse_actions, task.stay_actions, "none",
                            task.displacements)
    closure = LoopClosure(n_objects)
    sampler = WalkSampler(worlds, batch, window, length, n_objects, seed=seed, stagger=False)
    state, previous = closure.initial_state(batch, 8), position.initial_code(batch)
    codes, paths, nodes = [], [], []
    with torch.no_grad():
        for _ in range(length // window):
            b = sampler.next_window()
            path = position(torch.as_tensor(b.action), previous)
            rotation, state = closure(path, torch.as_tensor(b.obs), state)
            code = rotate(path, rotation)
            previous = code[:, -1]
            codes.append(code), paths.append(path), nodes.append(b.node)
    return torch.cat(codes, 1), torch.cat(paths, 1), np.concatenate(nodes, 1), state


def revisits_at_a_known_code(code, node):
    """Fraction of revisits of a node at a code that node already had (not a new one)."""
    unit = F.normalize(code, dim=-1)
    same = total = 0
    for b in range(node.shape[0]):
        for t in range(1, node.shape[1]):
            earlier = np.flatnonzero(node[b, :t] == node[b, t])
            if len(earlier):
                total += 1
                same += float((unit[b, earlier] @ unit[b, t]).max() > 0.99)
    return same / total


def test_on_a_torus_the_sides_are_found_and_revisits_snap_to_the_stored_codes():
    code, path, node, state = walk_codes("periodic-square:6-7")
    assert state["accepted"].any(1).all()  # every walk found a side
    assert revisits_at_a_known_code(path, node) < 0.85  # without closure, wrapping leaves new codes
    assert revisits_at_a_known_code(code, node) > 0.95
    assert (state["stored"].sum(1) <= 75).all()  # places: the nodes (36 or 49), plus some before the sides were known


def test_on_a_bounded_grid_nothing_is_accepted_and_the_code_is_the_path():
    code, path, node, state = walk_codes("square:6-7")
    assert not state["accepted"].any()
    torch.testing.assert_close(code, path)
    assert revisits_at_a_known_code(code, node) == 1.0


def test_reset_slots_forget_their_places_and_candidates():
    _, _, _, state = walk_codes("periodic-square:5", batch=2, length=200)
    reset = LoopClosure.reset(state, torch.tensor([True, False]))
    assert not reset["stored"][0].any() and not reset["live"][0].any() and not reset["accepted"][0].any()
    assert (reset["places"][0] == 0).all() and reset["step"][0] == 0
    assert reset["stored"][1].any() and reset["accepted"][1].any() and reset["step"][1] == 200


TORUS = make_worlds("periodic-square:4")[0]
TASK = Task.from_world(TORUS, n_objects=40)
CLOSING = TEMtConfig(module_sizes=(8,), sensory_dim=8, key_dim=8, action_matrices="commuting", loop_closure="on")


def torus_window(T=80, batch=3, seed=0):
    sampler = WalkSampler([TORUS], batch, T, 2 * T, n_objects=40, seed=seed, stagger=False)
    b = sampler.next_window()
    return tuple(torch.as_tensor(x) for x in (b.obs, b.action, b.new_world))


def test_the_model_stays_causal_with_loop_closure_and_snaps_on_a_torus():
    torch.manual_seed(0)
    model = build_model(CLOSING, TASK)
    obs, action, new_world = torus_window()
    state = model.initial_state(3)
    out = model(obs, action, new_world, state)
    assert out.state["loop_closure"]["accepted"].any()  # the test walks do wrap and close
    plain = model.position(action, model.position.initial_code(3))
    assert not torch.allclose(out.mec, plain, atol=1e-4)  # some codes were snapped
    for t in (0, 20, 45, 70):
        changed = obs.clone()
        changed[:, t:] = (changed[:, t:] + 1) % TASK.n_objects
        logits = model(changed, action, new_world, state).logits
        torch.testing.assert_close(logits[:, :t + 1], out.logits[:, :t + 1])


def test_two_windows_with_carried_closure_state_equal_one():
    torch.manual_seed(0)
    model = build_model(CLOSING, TASK)
    obs, action, new_world = torus_window()
    whole = model(obs, action, new_world, model.initial_state(3))
    first = model(obs[:, :23], action[:, :23], new_world, model.initial_state(3))
    second = model(obs[:, 23:], action[:, 23:], torch.zeros_like(new_world), model.detach_state(first.state))
    torch.testing.assert_close(torch.cat([first.logits, second.logits], 1), whole.logits, atol=1e-5, rtol=1e-4)


def test_auto_closes_loops_at_evaluation_only_and_only_on_phase_codes():
    config = TEMtConfig(module_sizes=(8,), sensory_dim=8, key_dim=8)  # auto: commuting on a torus
    assert loop_closure_for(config, TASK) == "eval"
    torch.manual_seed(0)
    model = build_model(config, TASK)
    obs, action, new_world = torus_window()
    plain = model.position(action, model.position.initial_code(3))
    trained = model.train()(obs, action, new_world, model.initial_state(3))
    torch.testing.assert_close(trained.mec, plain)  # training: the path code, untouched
    evaluated = model.eval()(obs, action, new_world, model.initial_state(3))
    assert not torch.allclose(evaluated.mec, plain, atol=1e-4)
    tree = Task.from_world(make_worlds("family-tree:2")[0], 40)
    assert loop_closure_for(config, tree) == "off"
    with pytest.raises(ValueError, match="commuting"):
        loop_closure_for(TEMtConfig(action_matrices="orthogonal", loop_closure="on"), TASK)
    with pytest.raises(ValueError, match="loop_closure must be one of"):
        TEMtConfig(loop_closure="always")


def test_a_run_saved_before_loop_closure_existed_resumes(tmp_path):
    from tem.checkpoint import save_checkpoint
    from tem.training.cli import main as train_main

    out = tmp_path / "run"
    args = ["--batch", "4", "--window", "8", "--walk-length", "24", "--world", "periodic-square:4", "--n-objects",
            "10", "--temt.module-sizes", "8", "--temt.sensory-dim", "8", "--temt.key-dim", "8", "--eval-every", "0",
            "--threads", "1", "--no-analysis", "--out", str(out)]
    assert train_main([*args, "--steps", "3"]) == 0
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert "loop_closure" in checkpoint["carried_state"]
    del checkpoint["carried_state"]["loop_closure"]  # as the previous version wrote it
    save_checkpoint(out / "checkpoint.pt", checkpoint)
    assert train_main(["--resume", str(out), "--steps", "5", "--threads", "1", "--no-analysis"]) == 0
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 5
