"""Latent-state tasks (W-maze alternation, laps): transitions, aliased objects, task probabilities,
the aliased accuracy score, and that worlds without aliasing are walked as before."""
import numpy as np
import pytest

from analysis.evaluate import Walks, aliased_groups, aliased_masks, score_walks
from envs import WalkPolicy, WalkSampler, World, make_worlds, square_grid
from envs.tasks import laps, w_maze


def named(world, v):
    """``{action name: next node}`` at node ``v``."""
    return {world.action_names[a]: int(world.transitions[v, a]) for a in range(world.n_actions)
            if world.transitions[v, a] >= 0}


def run_loop(world, start, turns):
    """Follow the W-maze from ``start`` taking ``turns`` ('west'/'east') at the stem tops, up to
    the next stem top after the last turn; the nodes visited."""
    nodes, v, turns = [start], start, list(turns)
    while True:
        moves = named(world, v)
        if len(moves) > 1 and not turns:
            return nodes
        v = moves[turns.pop(0)] if len(moves) > 1 else next(iter(moves.values()))
        nodes.append(v)


# ---- W-maze ------------------------------------------------------------------------------------
@pytest.mark.parametrize("stem", [3, 4, 5])
def test_w_maze_structure(stem):
    world = w_maze(stem)
    assert world.n_nodes == 2 * stem + 2 * (2 * 2 + stem - 2)
    branching = [v for v in range(world.n_nodes) if len(named(world, v)) > 1]
    assert branching == [stem - 1, 2 * stem - 1]  # the tops of the two stem copies
    # the two stem copies share objects and places; nothing else is aliased
    assert np.array_equal(np.flatnonzero(world.aliased), np.arange(2 * stem))
    assert np.array_equal(world.groups[stem:2 * stem], np.arange(stem))
    np.testing.assert_array_equal(world.positions[:stem], world.positions[stem:2 * stem])
    # the stem runs north; the tops alternate with probability 0.85
    left0 = 2 * stem
    west, east = world.action_names.index("west"), world.action_names.index("east")
    assert world.transitions[stem - 1, west] == left0 and world.action_probs[stem - 1, west] == pytest.approx(0.85)
    assert world.action_probs[stem - 1, east] == pytest.approx(0.15)
    assert world.transitions[2 * stem - 1, east] != left0
    assert world.action_probs[2 * stem - 1, east] == pytest.approx(0.85)


def test_w_maze_phase_is_the_last_turn():
    stem = 4
    world = w_maze(stem)
    to_left, to_right = 0, stem
    # from the bottom of the "to left" stem: turn west, run the left loop, arrive at the "to right" stem
    nodes = run_loop(world, to_left, ["west"])
    loop_end = nodes.index(to_right)
    assert np.array_equal(world.positions[nodes[loop_end]], (0, 0))
    assert to_left not in nodes[1:loop_end + 1]
    # an error (east from the "to left" stem) returns to the "to left" stem; alternating goes on
    walk = run_loop(world, to_left, ["east", "west", "east", "east"])
    stem_entries = [v for v in walk[1:] if v in (to_left, to_right)]
    assert stem_entries == [to_left, to_right, to_left, to_left]
    # every node is reachable, and the loops come back to the stem's bottom
    assert (world.distances() >= 0).all()


def test_w_maze_error_probability_respected():
    worlds = make_worlds("w-maze")
    sampler = WalkSampler(worlds, batch_size=64, window=50, walk_length=500, seed=3,
                          policy=WalkPolicy(persistence=0.5, approach=0.3))  # the task overrides the policy
    errors = turns = 0
    for _ in range(10):
        batch = sampler.next_window()
        for b in range(batch.node.shape[0]):
            world = worlds[batch.world[b]]
            stem = int(world.name.split()[-1])
            node = batch.node[b]
            top = node[:-1]
            went_left = node[1:] == 2 * stem
            at_left_top, at_right_top = top == stem - 1, top == 2 * stem - 1
            turns += int(at_left_top.sum() + at_right_top.sum())
            errors += int((at_left_top & ~went_left).sum() + (at_right_top & went_left).sum())
    assert turns > 2000
    assert abs(errors / turns - 0.15) < 0.03


def test_error_parameter_and_checks():
    world = w_maze(3, error=0.0)
    assert set(np.unique(world.action_probs)) == {0.0, 1.0}
    with pytest.raises(ValueError):
        w_maze(1)
    with pytest.raises(ValueError):
        w_maze(3, error=1.5)
    with pytest.raises(ValueError):  # probabilities on an unavailable action
        World("bad", [[1, -1], [0, -1]], np.zeros((2, 2)), ("a", "b"), [-1, -1], action_probs=[[0.5, 0.5], [1, 0]])


# ---- laps --------------------------------------------------------------------------------------
@pytest.mark.parametrize("side", [3, 4, 5])
def test_laps_count_and_wrap(side):
    world = laps(side)
    per_lap = 4 * (side - 1)
    assert world.n_nodes == 4 * per_lap
    assert (world.transitions >= 0).sum(axis=1).max() == 1  # one way round
    nxt = world.transitions.max(axis=1)
    np.testing.assert_array_equal(nxt, (np.arange(world.n_nodes) + 1) % world.n_nodes)  # lap 4 -> lap 1
    np.testing.assert_array_equal(world.groups, np.arange(world.n_nodes) % per_lap)
    assert world.aliased.all()
    for lap in range(1, 4):
        np.testing.assert_array_equal(world.positions[lap * per_lap:(lap + 1) * per_lap], world.positions[:per_lap])
    # the track is a square: each move is one unit step, and the lap's places are distinct
    steps = np.abs(np.diff(world.positions[:per_lap + 1], axis=0)).sum(axis=1)
    assert (steps == 1).all() and len({tuple(p) for p in world.positions}) == per_lap


# ---- objects in sampled windows ----------------------------------------------------------------
@pytest.mark.parametrize("spec", ["w-maze", "laps:3-4"])
def test_aliased_nodes_share_objects(spec):
    worlds = make_worlds(spec)
    sampler = WalkSampler(worlds, batch_size=16, window=40, walk_length=120, n_objects=45, seed=0)
    differ = 0
    for _ in range(6):
        batch = sampler.next_window()
        for b in range(16):
            world = worlds[batch.world[b]]
            for group in np.unique(world.groups[batch.node[b]]):
                seen = batch.obs[b][world.groups[batch.node[b]] == group]
                assert (seen == seen[0]).all()
            objects = sampler.objects[b, :world.n_nodes]
            np.testing.assert_array_equal(objects, objects[world.groups])
            firsts = np.unique(world.groups)
            differ += len(np.unique(objects[firsts])) > 1
    assert differ > 0  # distinct groups are not forced to share


def test_world_sample_objects_follow_groups():
    world = w_maze(4)
    objects = world.sample_objects(45, np.random.default_rng(0))
    np.testing.assert_array_equal(objects[:4], objects[4:8])
    plain = square_grid(4)
    assert plain.object_groups is None and not plain.aliased.any()
    assert World("g", [[1], [0]], np.zeros((2, 2)), ("a",), [-1], object_groups=[5, 7]).object_groups is None


# ---- the aliased score -------------------------------------------------------------------------
def test_aliased_acc_on_a_hand_made_walk():
    world = w_maze(3)  # stem copies 0-2 and 3-5 share objects; 6.. are loop nodes
    node = np.array([[0, 1, 2, 6, 7, 8, 9, 10, 3, 4, 5, 0]])
    action = np.zeros_like(node)
    action[0, 0] = -1
    correct = np.array([[0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1]], dtype=bool)
    group = aliased_groups([world], np.array([0]), node)
    np.testing.assert_array_equal(group, [[0, 1, 2, -1, -1, -1, -1, -1, 0, 1, 2, 0]])
    masks = aliased_masks(group, node)
    expected = np.zeros(node.shape, bool)
    expected[0, 8:] = True  # the second stem copy (and the return to node 0): the stem's objects were seen
    np.testing.assert_array_equal(masks["aliased"], expected)
    new_copy = expected.copy()
    new_copy[0, 11] = False  # node 0 itself was visited before
    np.testing.assert_array_equal(masks["aliased_new_copy"], new_copy)
    scores = score_walks(Walks(node, action, node, correct, np.array([0]), group), world.n_actions, 45)
    assert scores["n_aliased_steps"] == 4 and scores["aliased_acc"] == pytest.approx(0.75)
    assert scores["n_aliased_new_copy_steps"] == 3 and scores["aliased_new_copy_acc"] == pytest.approx(2 / 3)


def test_no_aliased_score_without_aliasing():
    worlds = make_worlds("square:4")
    sampler = WalkSampler(worlds, batch_size=2, window=10, walk_length=10, seed=0, stagger=False)
    batch = sampler.next_window()
    assert aliased_groups(worlds, batch.world, batch.node) is None
    scores = score_walks(Walks(batch.obs, batch.action, batch.node, np.ones(batch.obs.shape, bool), batch.world),
                         worlds[0].n_actions, 45)
    assert "aliased_acc" not in scores


# ---- worlds without aliasing are walked as before ----------------------------------------------
def test_plain_worlds_unchanged_by_task_machinery():
    """A sampler over plain worlds draws the same stream whether or not a task world could be in
    the family: the group remap and the task draw only touch worlds that declare them."""
    plain = make_worlds("square:4-5")
    regrouped = [World(w.name, w.transitions, w.positions, w.action_names, w.inverse_actions,
                       lattice=w.lattice, object_groups=np.arange(w.n_nodes)) for w in plain]
    a, b = (WalkSampler(ws, batch_size=5, window=9, walk_length=30, seed=4) for ws in (plain, regrouped))
    for _ in range(6):
        x, y = a.next_window(), b.next_window()
        for field in x._fields:
            np.testing.assert_array_equal(getattr(x, field), getattr(y, field))
    # uniform task probabilities over available actions draw from the same uniform numbers
    world = square_grid(4)
    ok = world.transitions >= 0
    task = World(world.name, world.transitions, world.positions, world.action_names, world.inverse_actions,
                 lattice=world.lattice, action_probs=ok / ok.sum(axis=1, keepdims=True))
    c = WalkSampler([task], batch_size=5, window=9, walk_length=30, seed=4)
    steps = c.next_window()
    assert np.array_equal(steps.node[:, 1:], task.transitions[steps.node[:, :-1], steps.action[:, 1:]])
