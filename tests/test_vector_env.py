"""The vector envs: Gymnasium's vector API, autoreset modes, seeding, and equality with single envs."""
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import batch_space

import envs
from envs import GraphVectorEnv, GridVectorEnv, WorldVectorEnv, family_tree

N = 4
MAKERS = {  # (id, kwargs) of worlds with walls, a torus, a stay action and a graph whose moves merge nodes
    "square": ("tem/Grid-v0", dict(width=3)),
    "hex-periodic": ("tem/Grid-v0", dict(width=4, height=4, shape="hex", periodic=True, n_objects=7)),
    "square-stay": ("tem/Grid-v0", dict(width=3, stay_action=True)),
    "family-tree": ("tem/Graph-v0", dict(graph=family_tree(2).to_networkx())),
}


def make_pair(name, mode=AutoresetMode.NEXT_STEP, steps=5):
    """The vector env and Gymnasium's SyncVectorEnv over ``N`` single ``gym.make`` envs, alike."""
    env_id, kwargs = MAKERS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # make_vec warns about missing or wrong autoreset metadata
        vector = gym.make_vec(env_id, num_envs=N, max_episode_steps=steps, autoreset_mode=mode, **kwargs)
        sync = gym.make_vec(env_id, num_envs=N, vectorization_mode="sync", max_episode_steps=steps,
                            vector_kwargs={"autoreset_mode": mode}, **kwargs)
    return vector, sync


def assert_same(a, b, where=""):
    assert data_equivalence(a, b, exact=True), f"{where}\nvector: {a}\nsync:   {b}"


def test_make_vec_builds_the_vector_env_with_batched_spaces():
    env = gym.make_vec("tem/Grid-v0", num_envs=3, vectorization_mode="vector_entry_point", width=5)
    assert isinstance(env, GridVectorEnv) and gym.make_vec("tem/Grid-v0", num_envs=2).num_envs == 2
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP and env.max_episode_steps == 1000
    assert env.spec.id == "tem/Grid-v0" and env.world.n_nodes == 25
    assert env.single_action_space == gym.spaces.Discrete(4) and env.single_observation_space == gym.spaces.Discrete(45)
    assert env.action_space == batch_space(env.single_action_space, 3)
    assert env.observation_space == batch_space(env.single_observation_space, 3)
    graph_env = gym.make_vec("tem/Graph-v0", num_envs=2, graph=MAKERS["family-tree"][1]["graph"], n_objects=7)
    assert isinstance(graph_env, GraphVectorEnv)
    assert graph_env.observation_space == batch_space(gym.spaces.Discrete(7), 2)


@pytest.mark.parametrize("name", list(MAKERS))
def test_reset_and_step_return_batches_of_the_right_shapes_and_types(name):
    env, _ = make_pair(name)
    env.action_space.seed(0)
    obs, info = env.reset(seed=0)
    for _ in range(12):  # through two truncations and autoresets
        assert isinstance(obs, np.ndarray) and obs.shape == (N,) and obs.dtype == np.int64
        assert env.observation_space.contains(obs)
        assert info["node"].shape == (N,) and info["node"].dtype == np.int64 and info["_node"].all()
        assert info["pos"].shape == (N, 2) and info["pos"].dtype == np.float64
        assert info["action_mask"].shape == (N, env.world.n_actions) and info["action_mask"].dtype == np.int8
        assert np.array_equal(obs, env.objects[np.arange(N), info["node"]])
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert reward.shape == (N,) and reward.dtype == np.float64 and not reward.any()
        for flags in (terminated, truncated):
            assert flags.shape == (N,) and flags.dtype == np.bool_
        assert not terminated.any()


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
@pytest.mark.parametrize("name", list(MAKERS))
def test_equal_to_sync_vector_env_of_single_envs_across_autoresets(name, mode):
    vector, sync = make_pair(name, mode)
    assert vector.action_space == sync.action_space and vector.observation_space == sync.observation_space
    actions = np.random.default_rng(1).integers(0, vector.world.n_actions, size=(17, N))
    assert_same(vector.reset(seed=7), sync.reset(seed=7), "reset")
    for t, action in enumerate(actions):
        assert_same(vector.step(action), sync.step(action), f"step {t}")
    assert_same(vector.reset(), sync.reset(), "unseeded reset continues each sub-env's stream")
    assert_same(vector.step(actions[0]), sync.step(actions[0]), "after the unseeded reset")


def test_equal_to_single_envs_stepped_by_hand():
    """Sub-env ``i`` is ``gym.make("tem/Grid-v0")`` reset with ``seed + i``, reset again (unseeded)
    the step after it is truncated."""
    vector = gym.make_vec("tem/Grid-v0", num_envs=N, width=4, max_episode_steps=6)
    singles = [gym.make("tem/Grid-v0", width=4, max_episode_steps=6) for _ in range(N)]
    obs, info = vector.reset(seed=11)
    firsts = [env.reset(seed=11 + i) for i, env in enumerate(singles)]
    assert obs.tolist() == [o for o, _ in firsts] and info["node"].tolist() == [i["node"] for _, i in firsts]
    ended = [False] * N
    for action in np.random.default_rng(2).integers(0, 4, size=(20, N)):
        obs, reward, terminated, truncated, info = vector.step(action)
        for i, env in enumerate(singles):
            if ended[i]:
                o, i_info = env.reset()
                r, term, trunc = 0.0, False, False
            else:
                o, r, term, trunc, i_info = env.step(int(action[i]))
            assert (obs[i], reward[i], terminated[i], truncated[i]) == (o, r, term, trunc)
            assert info["node"][i] == i_info["node"] and np.array_equal(info["pos"][i], i_info["pos"])
            assert np.array_equal(info["action_mask"][i], i_info["action_mask"])
            ended[i] = term or trunc


def test_next_step_autoreset_ignores_the_action_and_restarts_the_count():
    env = gym.make_vec("tem/Grid-v0", num_envs=2, width=3, max_episode_steps=3)
    env.reset(seed=0)
    truncated = [env.step(np.array([1, 2]))[3].tolist() for _ in range(3)]
    assert truncated == [[False, False], [False, False], [True, True]]
    objects = env.objects.copy()
    obs, reward, terminated, truncated, info = env.step(np.array([0, 0]))  # the autoreset step
    assert not truncated.any() and not terminated.any() and not reward.any()
    assert not np.array_equal(env.objects, objects)  # fresh objects, as a reset draws them
    assert np.array_equal(obs, env.objects[[0, 1], info["node"]]) and env.elapsed.tolist() == [0, 0]
    assert [env.step(np.array([0, 0]))[3].any() for _ in range(3)] == [False, False, True]


def test_same_step_autoreset_reports_the_final_observation():
    env = gym.make_vec("tem/Grid-v0", num_envs=3, width=3, max_episode_steps=2, autoreset_mode="SameStep")
    env.reset(seed=0)
    env.step(np.zeros(3, dtype=np.int64))
    last_node = env.world.transitions[env.node, 1]
    last_obs = env.objects[np.arange(3), np.where(last_node >= 0, last_node, env.node)]
    obs, _, _, truncated, info = env.step(np.ones(3, dtype=np.int64))
    assert truncated.all() and info["_final_obs"].all() and info["final_obs"].tolist() == last_obs.tolist()
    assert np.array_equal(obs, env.objects[np.arange(3), info["node"]]) and env.elapsed.tolist() == [0, 0, 0]


def test_disabled_autoreset_and_partial_resets_match_sync():
    vector, sync = make_pair("square", AutoresetMode.DISABLED, steps=2)
    assert_same(vector.reset(seed=3), sync.reset(seed=3))
    for action in ([0, 1, 2, 3], [1, 1, 1, 1]):
        assert_same(vector.step(np.array(action)), sync.step(np.array(action)))
    with pytest.raises(gym.error.ResetNeeded, match="reset_mask"):
        vector.step(np.zeros(N, dtype=np.int64))
    mask = np.array([True, False, True, True])
    assert_same(vector.reset(options={"reset_mask": mask}), sync.reset(options={"reset_mask": mask.copy()}))
    mask = np.array([False, True, False, False])
    assert_same(vector.reset(seed=[None, 5, None, None], options={"reset_mask": mask}),
                sync.reset(seed=[None, 5, None, None], options={"reset_mask": mask.copy()}))
    action = np.array([3, 2, 1, 0])
    assert_same(vector.step(action), sync.step(action))


def test_seeding_is_reproducible():
    def rollout(seed):
        env = gym.make_vec("tem/Grid-v0", num_envs=N, width=4, max_episode_steps=4)
        out = [env.reset(seed=seed)[0]]
        out += [env.step(np.full(N, t % 4))[0] for t in range(10)]
        return np.stack(out)

    assert np.array_equal(rollout(0), rollout(0))
    assert not np.array_equal(rollout(0), rollout(1))
    env = gym.make_vec("tem/Grid-v0", num_envs=N)
    env.reset(seed=[9, 9, 9, 9])  # the same seed: the same objects and start node
    assert (env.objects == env.objects[0]).all() and (env.node == env.node[0]).all()
    assert len(set(env.np_random_seed)) == 1
    first = env.objects.copy()
    env.reset()  # unseeded: each sub-env's stream moves on (here all alike, being one seed)
    assert not np.array_equal(env.objects, first) and (env.objects == env.objects[0]).all()


def test_unavailable_actions_leave_agents_in_place_as_world_step_does():
    env = gym.make_vec("tem/Grid-v0", num_envs=4, width=3)
    nodes = np.array([0, 2, 6, 8])  # the corners
    env.reset(seed=0, options={"node": nodes})
    for action in range(4):
        before = env.node.copy()
        env.step(np.full(4, action))
        assert env.node.tolist() == [env.world.step(int(v), action) for v in before]


def test_reset_options_set_nodes_and_objects():
    env = gym.make_vec("tem/Grid-v0", num_envs=2, width=3, n_objects=9)
    objects = np.arange(9)
    obs, info = env.reset(seed=0, options={"node": 4, "objects": objects})
    assert obs.tolist() == [4, 4] and info["node"].tolist() == [4, 4]
    obs, info = env.reset(options={"node": np.array([1, 7]), "objects": np.stack([objects, objects[::-1]])})
    assert obs.tolist() == [1, 1]


@pytest.mark.parametrize("options, name", [
    ({"node": 9}, "node"), ({"node": np.array([0, 1, 2])}, "node"), ({"objects": np.arange(8)}, "objects"),
    ({"objects": np.full(9, 45)}, "objects"), ({"reset_mask": [True, True]}, "reset_mask"),
    ({"reset_mask": np.zeros(2, dtype=bool)}, "reset_mask"), ({"start": 0}, "unknown")])
def test_bad_reset_options_raise(options, name):
    env = gym.make_vec("tem/Grid-v0", num_envs=2, width=3)
    with pytest.raises(ValueError, match=name):
        env.reset(options=options)


@pytest.mark.parametrize("actions", [np.array([0, 4]), np.array([0]), np.array([0.0, 1.0]), np.array([-1, 0])])
def test_step_rejects_actions_outside_the_space(actions):
    env = gym.make_vec("tem/Grid-v0", num_envs=2, width=3)
    with pytest.raises(gym.error.ResetNeeded):
        env.step(np.zeros(2, dtype=np.int64))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="actions"):
        env.step(actions)


@pytest.mark.parametrize("kwargs, name", [
    (dict(num_envs=0), "num_envs"), (dict(num_envs=2, max_episode_steps=0), "max_episode_steps"),
    (dict(num_envs=2, render_mode="human"), "render_mode"), (dict(num_envs=2, shape="tri"), "shape"),
    (dict(num_envs=2, n_objects=0), "n_objects")])
def test_bad_constructor_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        GridVectorEnv(**kwargs)


def test_bad_autoreset_mode_and_world_are_refused():
    with pytest.raises(ValueError, match="autoreset"):
        GridVectorEnv(2, autoreset_mode="sometimes")
    with pytest.raises(ValueError, match="world"):
        WorldVectorEnv("square", 2)


def test_render_gives_one_frame_per_sub_env_as_the_single_env():
    env = gym.make_vec("tem/Grid-v0", num_envs=2, width=3, render_mode="ansi")
    singles = [gym.make("tem/Grid-v0", width=3, render_mode="ansi") for _ in range(2)]
    env.reset(seed=4)
    for i, single in enumerate(singles):
        single.reset(seed=4 + i)
    assert env.render() == tuple(single.render() for single in singles)
    frames = GridVectorEnv(2, width=3, render_mode="rgb_array")
    frames.reset(seed=0)
    images = frames.render()
    assert len(images) == 2 and images[0].ndim == 3 and images[0].dtype == np.uint8


def test_vector_env_is_exported_and_registered():
    assert {"GridVectorEnv", "GraphVectorEnv", "WorldVectorEnv"} <= set(envs.__all__)
    assert gym.spec("tem/Grid-v0").vector_entry_point == "envs.vector:GridVectorEnv"
    assert gym.spec("tem/Graph-v0").vector_entry_point == "envs.vector:GraphVectorEnv"
    assert isinstance(gym.make_vec("tem/Grid-v0", num_envs=2, vectorization_mode="sync"), SyncVectorEnv)
