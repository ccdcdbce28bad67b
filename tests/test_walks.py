"""The batched walk sampler: determinism, valid transitions, resets, objects, policies, state."""
from pathlib import Path

import numpy as np
import pytest

from envs import NO_ACTION, WalkPolicy, WalkSampler, family_tree, hex_grid, make_worlds, square_grid

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "worlds"
CONFIGS = {
    "square": dict(worlds=make_worlds("square:4-6")),
    "periodic-hex+stay": dict(worlds=make_worlds("periodic-hex:4-6", stay_action=True)),
    "tree-persistent": dict(worlds=[family_tree(3)], policy=WalkPolicy(persistence=0.7)),
    "square-approach": dict(worlds=[square_grid(5)], policy=WalkPolicy(persistence=0.3, approach=0.5)),
    "tree10-persistent": dict(worlds=make_worlds("family-tree-10:3-4"), policy=WalkPolicy(persistence=0.5)),
    "line-jumps-approach": dict(worlds=make_worlds("line-jumps3:8-10"), policy=WalkPolicy(approach=0.5)),
    "lattice3d-files": dict(worlds=make_worlds(f"{EXAMPLES / 'lattice3d.json'},{EXAMPLES / 'lattice3d-5.json'}")),
}


def make_sampler(worlds, seed=0, batch_size=6, window=7, walk_length=20, **kwargs):
    return WalkSampler(worlds, batch_size=batch_size, window=window, walk_length=walk_length,
                       seed=seed, **kwargs)


def windows(sampler, n):
    return [sampler.next_window() for _ in range(n)]


def assert_batches_equal(a, b):
    for x, y in zip(a, b):
        for field in x._fields:
            assert np.array_equal(getattr(x, field), getattr(y, field)), field


# ---- determinism -------------------------------------------------------------------------------
def test_same_seed_same_objects_and_walks():
    world = square_grid(5)
    one, two = (world.sample_objects(45, np.random.default_rng(3)) for _ in range(2))
    assert np.array_equal(one, two)
    a, b, c = (make_sampler(make_worlds("square:4-6"), seed=s) for s in (1, 1, 2))
    batches_a, batches_b, batches_c = windows(a, 5), windows(b, 5), windows(c, 5)
    assert_batches_equal(batches_a, batches_b)
    assert np.array_equal(a.objects, b.objects)
    assert not all(np.array_equal(x.node, y.node) for x, y in zip(batches_a, batches_c))


# ---- every step is a transition of the world ---------------------------------------------------
@pytest.mark.parametrize("name", list(CONFIGS))
def test_steps_follow_world_transitions(name):
    sampler = make_sampler(**CONFIGS[name])
    last_node = None
    for batch in windows(sampler, 8):
        B, T = batch.node.shape
        assert batch.obs.shape == batch.action.shape == (B, T) and batch.new_world.shape == (B,)
        for b in range(B):
            world = sampler.worlds[batch.world[b]]
            node, action = batch.node[b], batch.action[b]
            assert ((node >= 0) & (node < world.n_nodes)).all()
            assert (action[1:] >= 0).all(), "only a walk's first step has no action"
            if batch.new_world[b]:
                assert action[0] == NO_ACTION
            else:
                assert action[0] >= 0
                assert node[0] == world.transitions[last_node[b], action[0]]
            assert np.array_equal(node[1:], world.transitions[node[:-1], action[1:]])
        last_node = batch.node[:, -1]


# ---- walk length and resets --------------------------------------------------------------------
@pytest.mark.parametrize("stagger", [False, True])
def test_walks_last_walk_length_rounded_up_to_windows(stagger):
    sampler = make_sampler([square_grid(4)], window=10, walk_length=25, stagger=stagger)  # 3 windows
    flags = np.array([batch.new_world for batch in windows(sampler, 12)])  # (n_windows, B)
    for b in range(sampler.batch_size):
        starts = np.flatnonzero(flags[:, b])
        assert starts[0] == 0 and len(starts) >= 4
        assert (np.diff(starts[1:]) == 3).all()
        assert 1 <= starts[1] <= 3 if stagger else starts[1] == 3  # staggered first walks are shorter


@pytest.mark.parametrize("stagger", [False, True])
def test_first_window_starts_every_walk_at_its_start_node(stagger):
    sampler = make_sampler([square_grid(4)], window=3, walk_length=30, stagger=stagger)
    start = sampler.node.copy()
    batch = sampler.next_window()
    assert batch.new_world.all() and (batch.action[:, 0] == NO_ACTION).all()
    if stagger:  # placed at construction: the walk begins there
        assert np.array_equal(batch.node[:, 0], start)
    if not stagger:  # 30 steps = 10 windows of 3: the next walks start at window 10
        later = np.array([sampler.next_window().new_world for _ in range(10)])  # (10, B)
        assert not later[:-1].any() and later[-1].all()


def test_objects_are_the_world_objects_of_the_walk():
    sampler = make_sampler(make_worlds("hex:3-5"), batch_size=5, window=6, walk_length=12)
    seen = [dict() for _ in range(sampler.batch_size)]  # per slot: node -> object in this walk
    for _ in range(10):
        batch = sampler.next_window()  # sampler.objects now holds this window's objects
        assert np.array_equal(batch.obs, np.take_along_axis(sampler.objects, batch.node, axis=1))
        for b in range(sampler.batch_size):
            if batch.new_world[b]:
                seen[b] = {}
            for v, o in zip(batch.node[b].tolist(), batch.obs[b].tolist()):
                assert seen[b].setdefault(v, o) == o
    assert ((sampler.objects >= 0) & (sampler.objects < 45)).all()


# ---- policies ----------------------------------------------------------------------------------
def test_persistence_one_repeats_available_actions():
    sampler = make_sampler([square_grid(7)], batch_size=8, window=15, walk_length=60,
                           policy=WalkPolicy(persistence=1.0))
    transitions = sampler.worlds[0].transitions
    repeats = 0
    for batch in windows(sampler, 6):
        node, action = batch.node, batch.action
        for b in range(sampler.batch_size):
            for t in range(1, node.shape[1]):
                if transitions[node[b, t - 1], action[b, t - 1]] >= 0 and action[b, t - 1] >= 0:
                    assert action[b, t] == action[b, t - 1]
                    repeats += 1
    assert repeats > 0


@pytest.mark.parametrize("world", [square_grid(6), hex_grid(5, 6, periodic=True), family_tree(3)],
                         ids=lambda w: w.name)
def test_approach_one_walks_shortest_paths_to_target(world):
    sampler = make_sampler([world], batch_size=8, window=1, walk_length=1000, stagger=False,
                           policy=WalkPolicy(approach=1.0))
    dist = world.distances()
    sampler.next_window()  # places the walks
    reached = 0
    for _ in range(40):
        node, target = sampler.node.copy(), sampler.target.copy()
        sampler.next_window()
        moving = node != target
        assert (dist[sampler.node[moving], target[moving]] == dist[node[moving], target[moving]] - 1).all()
        reached += int((sampler.node[moving] == target[moving]).sum())
    assert reached > 0


# ---- bad inputs --------------------------------------------------------------------------------
@pytest.mark.parametrize("call,name", [
    (lambda: make_sampler([square_grid(4)], batch_size=0), "batch_size"),
    (lambda: make_sampler([square_grid(4)], window=0), "window"),
    (lambda: make_sampler([square_grid(4)], walk_length=0), "walk_length"),
    (lambda: make_sampler([square_grid(4)], n_objects=0), "n_objects"),
    (lambda: make_sampler([]), "worlds"),
    (lambda: make_sampler([square_grid(4), hex_grid(4)]), "action set"),
    (lambda: make_sampler([square_grid(4), square_grid(4, stay_action=True)]), "action set"),
    (lambda: WalkPolicy(persistence=1.5), "persistence"),
    (lambda: WalkPolicy(approach=-0.1), "approach"),
    (lambda: make_sampler([square_grid(4)], salient=16), "salient"),
    (lambda: make_sampler([square_grid(4)], salient=-1), "salient"),
])
def test_bad_inputs_raise_value_error(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ---- checkpointing -----------------------------------------------------------------------------
def test_state_dict_continues_the_same_stream():
    kwargs = dict(worlds=make_worlds("square:4-5"), policy=WalkPolicy(persistence=0.5, approach=0.3))
    sampler = make_sampler(**kwargs, seed=4)
    windows(sampler, 3)
    state = sampler.state_dict()
    expected = windows(sampler, 5)
    restored = make_sampler(**kwargs, seed=99)
    restored.load_state_dict(state)
    assert_batches_equal(expected, windows(restored, 5))
    bad = dict(state, node=np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="node"):
        restored.load_state_dict(bad)


def test_salient_objects_stand_alone_are_drawn_with_each_world_and_resume_exactly():
    worlds = make_worlds("square:4-5")
    sampler = make_sampler(worlds, batch_size=6, window=10, walk_length=20, n_objects=9, seed=3, salient=2,
                           policy=WalkPolicy(approach=1.0))
    seen = []
    for _ in range(6):
        batch = sampler.next_window()
        for b in range(6):
            n = sampler.worlds[batch.world[b]].n_nodes
            salient = sampler.salient_nodes[b]
            objects = sampler.objects[b, :n]
            assert len(set(salient)) == 2 and (salient < n).all() and (objects[salient] == 8).all()
            assert (np.delete(objects, salient) < 8).all()  # the reserved id is seen nowhere else
            assert ((batch.obs[b] == 8) == np.isin(batch.node[b], salient)).all()
            seen.append(tuple(salient))
    assert len(set(seen)) > 3  # drawn afresh with the worlds
    state = sampler.state_dict()
    expected = windows(sampler, 3)
    restored = make_sampler(worlds, batch_size=6, window=10, walk_length=20, n_objects=9, seed=0, salient=2,
                            policy=WalkPolicy(approach=1.0))
    restored.load_state_dict(state)
    assert_batches_equal(expected, windows(restored, 3))
    with pytest.raises(ValueError, match="salient"):
        restored.load_state_dict({k: v for k, v in state.items() if k != "salient_nodes"})


def test_ordinary_objects_stay_uniform_beside_salient_ones():
    sampler = make_sampler([square_grid(10)], batch_size=200, window=5, walk_length=10, n_objects=10, salient=1)
    sampler.next_window()
    objects = sampler.objects[:, :100]
    counts = np.bincount(objects[objects != 9], minlength=9)
    assert counts.max() < 1.2 * counts.min()  # id 8 no likelier than the others


def test_approached_salient_objects_are_visited_more_often():
    def salient_share(approach):
        sampler = make_sampler([square_grid(8)], batch_size=20, window=100, walk_length=400, seed=1, salient=1,
                               policy=WalkPolicy(approach=approach))
        batches = windows(sampler, 4)
        return np.mean([(batch.obs == sampler.n_objects - 1).mean() for batch in batches])
    assert salient_share(0.8) > 3 * salient_share(0.0)


# ---- benchmark script --------------------------------------------------------------------------
def test_sampler_benchmark_script_runs():
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "sampler.py"
    out = subprocess.run([sys.executable, str(script), "--batch", "4", "--side", "4", "--window", "5",
                          "--seconds", "0.05"], capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["env_steps_per_s"] > 0 and result["batch"] == 4 and result["policy"] == "uniform"
