"""The Gymnasium faces: API conformance, registration, seeding, agreement with the sampler."""
import importlib
import warnings
from pathlib import Path

import gymnasium as gym
import networkx as nx
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import (GraphEnv, GridEnv, WalkPolicy, WalkSampler, WorldEnv, family_tree, line, line_jumps, load_world,
                  ring)

GRID_KWARGS = {
    "square": dict(width=5),
    "square-periodic": dict(width=5, height=4, periodic=True),
    "square-stay": dict(width=4, stay_action=True),
    "hex": dict(width=5, shape="hex"),
    "hex-periodic": dict(width=5, height=4, shape="hex", periodic=True),
}
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "worlds"
GRAPHS = {"line": line(5).to_networkx(), "ring": ring(6).to_networkx(),
          "family-tree": family_tree(2).to_networkx()}


def run_check_env(env):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        check_env(env.unwrapped)


# ---- API conformance ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(GRID_KWARGS))
def test_check_env_grids(name):
    run_check_env(gym.make("tem/Grid-v0", **GRID_KWARGS[name]))


@pytest.mark.parametrize("name", list(GRAPHS))
def test_check_env_graphs(name):
    run_check_env(gym.make("tem/Graph-v0", graph=GRAPHS[name]))


NEW_WORLDS = {  # the 10-relation family tree, a line with jumps, and worlds loaded from the example files
    "family-tree-10": lambda: family_tree(3, relations=10),
    "line-jumps": lambda: line_jumps(8, 3),
    **{name: (lambda name=name: load_world(EXAMPLES / name))
       for name in ("lattice3d.json", "diagonal-grid.graphml", "ternary-tree.gml")},
}


@pytest.mark.parametrize("name", list(NEW_WORLDS))
def test_check_env_new_graph_worlds(name):
    world = NEW_WORLDS[name]()
    env = gym.make("tem/Graph-v0", graph=world.to_networkx(), actions=list(world.action_names))
    assert isinstance(env.unwrapped, GraphEnv)
    assert np.array_equal(env.unwrapped.world.transitions, world.transitions)
    assert np.array_equal(env.unwrapped.world.inverse_actions, world.inverse_actions)
    run_check_env(env)


def test_registration_is_idempotent_and_truncates():
    importlib.reload(envs)  # a second import must not re-register
    assert gym.spec("tem/Grid-v0").max_episode_steps == 1000
    env = gym.make("tem/Grid-v0", width=3, max_episode_steps=5)
    env.reset(seed=0)
    truncated = [env.step(0)[3] for _ in range(5)]
    assert truncated == [False] * 4 + [True]
    assert isinstance(env.unwrapped, GridEnv) and env.unwrapped.world.n_nodes == 9
    graph_env = gym.make("tem/Graph-v0", graph=GRAPHS["ring"], n_objects=7)
    assert isinstance(graph_env.unwrapped, GraphEnv) and graph_env.observation_space.n == 7


def test_spaces_and_info():
    env = GridEnv(width=4, shape="hex", stay_action=True, n_objects=10)
    assert env.action_space.n == 7 and env.observation_space.n == 10
    obs, info = env.reset(seed=1)
    assert obs == env.objects[info["node"]]
    assert info["pos"].shape == (2,) and info["pos"].dtype == np.float64
    assert info["action_mask"].dtype == np.int8
    assert np.array_equal(info["action_mask"], env.world.action_mask(info["node"]))
    obs, reward, terminated, truncated, info = env.step(6)  # stay
    assert (reward, terminated, truncated) == (0.0, False, False)


# ---- seeding -----------------------------------------------------------------------------------
def walk(env, seed, actions):
    """``(objects, nodes, observations)`` of a reset with ``seed`` followed by ``actions``."""
    obs, info = env.reset(seed=seed)
    nodes, observations = [info["node"]], [obs]
    for a in actions:
        obs, _, _, _, info = env.step(a)
        nodes.append(info["node"])
        observations.append(obs)
    return env.unwrapped.objects.copy(), nodes, observations


def test_reset_seed_is_deterministic():
    env = gym.make("tem/Grid-v0", width=6)
    actions = np.random.default_rng(0).integers(0, 4, size=30).tolist()
    first, again, other = walk(env, 7, actions), walk(env, 7, actions), walk(env, 8, actions)
    assert np.array_equal(first[0], again[0]) and first[1:] == again[1:]
    assert not np.array_equal(first[0], other[0])


# ---- the sampler and the env agree -------------------------------------------------------------
@pytest.mark.parametrize("make_env,policy", [
    (lambda: GridEnv(width=6), WalkPolicy()),
    (lambda: GridEnv(width=5, height=4, shape="hex", periodic=True, stay_action=True),
     WalkPolicy(persistence=0.5)),
    (lambda: WorldEnv(family_tree(3)), WalkPolicy(approach=0.5)),
], ids=["square", "periodic-hex-stay", "family-tree"])
def test_sampler_and_env_visit_the_same_nodes(make_env, policy):
    env = make_env()
    world = env.world
    sampler = WalkSampler([world], batch_size=3, window=10, walk_length=40, seed=5,
                          policy=policy, stagger=False)
    batches = [sampler.next_window() for _ in range(4)]  # exactly one walk per slot
    node = np.concatenate([b.node for b in batches], axis=1)  # (B, 40)
    action = np.concatenate([b.action for b in batches], axis=1)
    obs = np.concatenate([b.obs for b in batches], axis=1)
    for b in range(sampler.batch_size):
        assert action[b, 0] == envs.NO_ACTION
        objects = sampler.objects[b, :world.n_nodes]
        env_obs, info = env.reset(seed=0, options={"node": int(node[b, 0]), "objects": objects})
        nodes, observations = [info["node"]], [env_obs]
        for a in action[b, 1:]:
            env_obs, _, _, _, info = env.step(int(a))
            nodes.append(info["node"])
            observations.append(env_obs)
        assert nodes == node[b].tolist()
        assert observations == obs[b].tolist()


# ---- edge cases and errors ---------------------------------------------------------------------
def test_unavailable_action_leaves_agent_in_place():
    env = GridEnv(width=4)
    obs, info = env.reset(seed=0, options={"node": 0})  # south-west corner
    assert info["action_mask"].tolist() == [1, 1, 0, 0]
    for blocked in (2, 3):  # S and W walk into walls
        again, _, _, _, info = env.step(blocked)
        assert info["node"] == 0 and again == obs


@pytest.mark.parametrize("action", [4, -1, 1.5, "N", None])
def test_step_rejects_actions_outside_the_space(action):
    env = GridEnv(width=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(action)


@pytest.mark.parametrize("make,name", [
    (lambda: GridEnv(width=1), "width"), (lambda: GridEnv(width=4, height=1), "height"),
    (lambda: GridEnv(n_objects=0), "n_objects"), (lambda: GridEnv(shape="triangle"), "shape"),
    (lambda: GridEnv(shape="hex", height=5, periodic=True), "height"),
    (lambda: GridEnv(render_mode="human"), "render_mode"),
    (lambda: GraphEnv(nx.DiGraph([(0, 1), (1, 0)])), "action"),
    (lambda: WorldEnv("not a world"), "world"),
])
def test_bad_constructor_arguments_name_the_argument(make, name):
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize("options,name", [
    ({"node": 9}, "node"), ({"node": -1}, "node"), ({"node": 1.0}, "node"),
    ({"objects": np.zeros(8, dtype=int)}, "objects"), ({"objects": np.full(9, 45)}, "objects"),
    ({"start": 0}, "start"),
])
def test_bad_reset_options_raise(options, name):
    with pytest.raises(ValueError, match=name):
        GridEnv(width=3).reset(seed=0, options=options)


def test_step_before_reset_is_an_error():
    with pytest.raises(gym.error.ResetNeeded):
        GridEnv(width=3).step(0)


# ---- rendering ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda mode: GridEnv(width=4, shape="hex", periodic=True, render_mode=mode),
                                  lambda mode: GraphEnv(GRAPHS["family-tree"], render_mode=mode)],
                         ids=["hex", "tree"])
def test_render_modes(make):
    env = make("rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 3
    env = make("ansi")
    env.reset(seed=0, options={"node": 2})
    text = env.render()
    assert isinstance(text, str) and text.count("[") == 1


def test_ansi_grid_shows_rows_north_up():
    env = GridEnv(width=3, height=2, n_objects=10, render_mode="ansi")
    env.reset(seed=0, options={"node": 4, "objects": np.arange(6)})  # node 4 = (x=1, y=1)
    assert env.render() == " 3 [4] 5\n 0  1  2\n"
