"""Gymnasium vector faces of the worlds: ``N`` agents, each in its own copy of one world, stepped at once.

``gym.make_vec("tem/Grid-v0", num_envs=N)`` builds a :class:`GridVectorEnv` (and
``gym.make_vec("tem/Graph-v0", num_envs=N, graph=G)`` a :class:`GraphVectorEnv`): the moves of all
``N`` agents are one NumPy lookup in the world's transition table, as in
:class:`envs.walks.WalkSampler`. Sub-env ``i`` is the single env ``gym.make("tem/Grid-v0")`` reset
with seed ``seed + i``: same objects, start nodes, observations, truncations and infos as
``gym.make_vec(..., vectorization_mode="sync")``, at a fraction of the cost.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import networkx as nx
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.graphs import from_networkx
from envs.grids import hex_grid, square_grid
from envs.gym_env import GRID_SHAPES, RESET_OPTIONS
from envs.world import World, check_n_objects

VECTOR_RESET_OPTIONS = (*RESET_OPTIONS, "reset_mask")


class WorldVectorEnv(VectorEnv):
    """``num_envs`` agents walking on copies of one :class:`~envs.world.World`, each with its own objects.

    ## Description
    The batched form of :class:`envs.gym_env.WorldEnv`: each sub-env draws fresh objects and a start
    node at every reset and steps by the world's transitions; there is no reward. Steps are
    vectorised over the sub-envs; the only per-sub-env loop draws a reset sub-env's objects from its
    own generator (once per episode), so that sub-env ``i`` reproduces the single env exactly.

    ## Action Space
    ``MultiDiscrete([n_actions] * num_envs)``, the single space ``Discrete(world.n_actions)`` batched
    with :func:`gymnasium.vector.utils.batch_space`. An unavailable action leaves that agent in place.

    ## Observation Space
    ``MultiDiscrete([n_objects] * num_envs)``: ``(num_envs,)`` int64, the object under each agent.

    ## Starting State
    Per sub-env, a node drawn uniformly from all nodes (or ``options={"node": ...}``).

    ## Reward
    ``(num_envs,)`` float64 zeros.

    ## Episode End
    Never terminates; sub-env ``i`` is truncated after ``max_episode_steps`` steps (1000 through
    ``gym.make_vec``; ``None``: never). Autoreset follows ``metadata["autoreset_mode"]``
    (:class:`gymnasium.vector.AutoresetMode`): ``NEXT_STEP`` (default) resets a truncated sub-env at
    its next ``step``, which ignores its action and returns its first observation with reward 0 and
    ``terminated = truncated = False``; ``SAME_STEP`` resets it in the step that truncates it and puts
    the last observation and info in ``info["final_obs"]`` and ``info["final_info"]``; ``DISABLED``
    leaves resetting to ``reset(options={"reset_mask": mask})``.

    ## Information
    As :class:`gymnasium.vector.SyncVectorEnv` batches the single env's info: ``"node"``
    (``(num_envs,)`` int64), ``"pos"`` (``(num_envs, 2)`` float64), ``"action_mask"``
    (``(num_envs, n_actions)`` int8), each with its mask ``"_node"``, ``"_pos"``, ``"_action_mask"``
    (``(num_envs,)`` bool; False, and the values 0, for sub-envs a partial reset left alone).

    ## Arguments
    ``world``, ``num_envs``, ``n_objects`` (45), ``max_episode_steps`` (None), ``autoreset_mode``
    (an :class:`AutoresetMode` or its value, default ``NEXT_STEP``), ``render_mode`` (``None``,
    ``"rgb_array"`` or ``"ansi"``: :meth:`render` returns one frame per sub-env). ``reset(seed=...)``:
    an int (sub-env ``i`` gets ``seed + i``), a list of ``num_envs`` ints or Nones, or None.
    ``reset(options=...)``: ``"node"`` (an int, or ``(num_envs,)`` ints), ``"objects"``
    (``(n_nodes,)`` or ``(num_envs, n_nodes)`` ids) and ``"reset_mask"`` (``(num_envs,)`` bool: reset
    only those sub-envs).

    ## Version History
    * v0: Initial version.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, world: World, num_envs: int, n_objects: int = 45, max_episode_steps: int | None = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, render_mode: str | None = None):
        if not isinstance(world, World):
            raise ValueError(f"world must be an envs.world.World, got {type(world).__name__}")
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        check_n_objects(n_objects)
        if max_episode_steps is not None and (not isinstance(max_episode_steps, (int, np.integer))
                                              or max_episode_steps < 1):
            raise ValueError(f"max_episode_steps must be None or an integer >= 1, got {max_episode_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, "
                             f"got {render_mode!r}")
        self.world, self.num_envs, self.n_objects = world, int(num_envs), int(n_objects)
        self.max_episode_steps = max_episode_steps
        try:
            self.autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError:
            raise ValueError(f"autoreset_mode must be an AutoresetMode or one of {[m.value for m in AutoresetMode]}, "
                             f"got {autoreset_mode!r}") from None
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self.render_mode = render_mode
        self.single_action_space = spaces.Discrete(world.n_actions)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.single_observation_space = spaces.Discrete(self.n_objects)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        N = self.num_envs
        self.objects = np.zeros((N, world.n_nodes), dtype=np.int64)  # (N, n_nodes) object ids
        self.node = np.zeros(N, dtype=np.int64)
        self.elapsed = np.zeros(N, dtype=np.int64)  # steps since each sub-env's reset
        self._rows = np.arange(N)
        self._ended = np.zeros(N, dtype=bool)  # truncated at the last step, to be autoreset
        self._started = False
        self._rngs: list[np.random.Generator | None] = [None] * N
        self._seeds: list[int | None] = [None] * N

    # ---- seeding --------------------------------------------------------------------------------
    @property
    def np_random(self) -> tuple[np.random.Generator, ...]:
        """The sub-envs' generators (as :class:`gymnasium.vector.SyncVectorEnv` returns them)."""
        return tuple(self._rng(i) for i in range(self.num_envs))

    @property
    def np_random_seed(self) -> tuple[int, ...]:
        """The sub-envs' seeds (a random one for a sub-env never reset with a seed)."""
        for i in range(self.num_envs):
            self._rng(i)
        return tuple(self._seeds)

    def _rng(self, i: int) -> np.random.Generator:
        if self._rngs[i] is None:  # as gym.Env.np_random: a random seed on first use
            self._rngs[i], self._seeds[i] = seeding.np_random()
        return self._rngs[i]

    def _seed_list(self, seed) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = [None if s is None else int(s) for s in seed]
        if len(seeds) != self.num_envs:
            raise ValueError(f"seed as a list must have num_envs={self.num_envs} entries, got {len(seeds)}")
        return seeds

    # ---- the Gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset all sub-envs (or those in ``options["reset_mask"]``); returns ``(obs, info)``,
        ``obs``: ``(num_envs,)`` int64."""
        options = {} if options is None else dict(options)
        unknown = sorted(set(options) - set(VECTOR_RESET_OPTIONS), key=str)
        if unknown:
            raise ValueError(f"options has unknown keys {unknown}; known keys: {list(VECTOR_RESET_OPTIONS)}")
        mask = self._check_mask(options.get("reset_mask"))
        seeds = self._seed_list(seed)
        node = None if options.get("node") is None else self._check_node(options["node"])
        objects = None if options.get("objects") is None else self._check_objects(options["objects"])
        for i in np.flatnonzero(mask):
            if seeds[i] is not None:
                self._rngs[i], self._seeds[i] = seeding.np_random(seeds[i])
        self._draw(mask)
        if objects is not None:
            self.objects[mask] = objects[mask]
        if node is not None:
            self.node[mask] = node[mask]
        self._ended[mask] = False
        self._started = True
        return self._obs(), self._info(mask)

    def step(self, actions):
        """Move every agent by its action; returns ``(obs, reward, terminated, truncated, info)``, each
        ``(num_envs,)`` (obs int64, reward float64, the flags bool) and the batched info."""
        if not self._started:
            raise gym.error.ResetNeeded("call reset() before step()")
        actions = self._check_actions(actions)
        mode = self.autoreset_mode
        if mode == AutoresetMode.DISABLED and self._ended.any():
            raise gym.error.ResetNeeded(
                f"sub-envs {np.flatnonzero(self._ended).tolist()} ended; with autoreset_mode DISABLED reset them "
                "with reset(options={'reset_mask': mask}) before stepping")
        moving = ~self._ended if mode == AutoresetMode.NEXT_STEP else np.ones(self.num_envs, dtype=bool)
        target = self.world.transitions[self.node, actions]  # (N,); -1: unavailable, stay
        self.node = np.where(moving & (target >= 0), target, self.node)
        self.elapsed += moving
        if mode == AutoresetMode.NEXT_STEP and self._ended.any():  # their action is ignored
            self._draw(self._ended)
        truncated = moving & self._truncated()
        terminated = np.zeros(self.num_envs, dtype=bool)
        reward = np.zeros(self.num_envs, dtype=np.float64)
        info: dict[str, Any] = {}
        if mode == AutoresetMode.SAME_STEP and truncated.any():
            info = self._final(truncated)
            self._draw(truncated)
        info.update(self._info(np.ones(self.num_envs, dtype=bool)))
        self._ended = terminated | truncated
        return self._obs(), reward, terminated, truncated, info

    def render(self) -> tuple | None:
        """One frame per sub-env: ``"rgb_array"``: ``(H, W, 3)`` uint8 images; ``"ansi"``: text maps."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode to the env")
            return None
        if not self._started:
            raise gym.error.ResetNeeded("call reset() before render()")
        from envs import render  # matplotlib is imported only when a picture is asked for

        if self.render_mode == "ansi":
            return tuple(render.render_ansi(self.world, o, int(v)) for o, v in zip(self.objects, self.node))
        return tuple(render.render_rgb(self.world, o, int(v), self.n_objects) for o, v in zip(self.objects, self.node))

    # ---- internals ------------------------------------------------------------------------------
    def _draw(self, mask: np.ndarray) -> None:
        """Fresh objects and start node for the sub-envs in ``mask``, each from its own generator, in
        the single env's order (objects, then node)."""
        for i in np.flatnonzero(mask):
            rng = self._rng(i)
            self.objects[i] = self.world.sample_objects(self.n_objects, rng)
            self.node[i] = rng.integers(self.world.n_nodes)
        self.elapsed[mask] = 0

    def _truncated(self) -> np.ndarray:
        if self.max_episode_steps is None:
            return np.zeros(self.num_envs, dtype=bool)
        return self.elapsed >= self.max_episode_steps

    def _obs(self) -> np.ndarray:
        return self.objects[self._rows, self.node]  # (N,) int64, a new array

    def _info(self, mask: np.ndarray) -> dict[str, Any]:
        """The single env's info batched as SyncVectorEnv batches it, for the sub-envs in ``mask``."""
        node = np.where(mask, self.node, 0)
        pos = np.where(mask[:, None], self.world.positions[self.node], 0.0)
        action_mask = np.where(mask[:, None], self.world.transitions[self.node] >= 0, False).astype(np.int8)
        return {"node": node, "_node": mask.copy(), "pos": pos, "_pos": mask.copy(),
                "action_mask": action_mask, "_action_mask": mask.copy()}

    def _final(self, ended: np.ndarray) -> dict[str, Any]:
        """``final_obs`` and ``final_info`` of the sub-envs that ``ended`` (SAME_STEP autoreset)."""
        final_obs = np.full(self.num_envs, None, dtype=object)
        final_obs[ended] = [int(o) for o in self._obs()[ended]]
        return {"final_obs": final_obs, "_final_obs": ended.copy(), "final_info": self._info(ended),
                "_final_info": ended.copy()}

    def _check_actions(self, actions) -> np.ndarray:
        actions = np.asarray(actions)
        if (actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer)
                or (actions < 0).any() or (actions >= self.world.n_actions).any()):
            raise ValueError(f"actions must be {self.num_envs} integers in [0, {self.world.n_actions}), "
                             f"got {actions!r}")
        return actions.astype(np.int64)

    def _check_mask(self, mask) -> np.ndarray:
        if mask is None:
            return np.ones(self.num_envs, dtype=bool)
        if not isinstance(mask, np.ndarray) or mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
            raise ValueError(f"options['reset_mask'] must be a ({self.num_envs},) bool array, got {mask!r}")
        if not mask.any():
            raise ValueError("options['reset_mask'] must select at least one sub-env")
        return mask.copy()

    def _check_node(self, node) -> np.ndarray:
        node = np.broadcast_to(np.asarray(node), (self.num_envs,)) if np.ndim(node) == 0 else np.asarray(node)
        if (node.shape != (self.num_envs,) or not np.issubdtype(node.dtype, np.integer)
                or node.min() < 0 or node.max() >= self.world.n_nodes):
            raise ValueError(f"options['node'] must be an integer or {self.num_envs} integers in "
                             f"[0, {self.world.n_nodes}), got {node!r}")
        return node.astype(np.int64)

    def _check_objects(self, objects) -> np.ndarray:
        objects = np.asarray(objects)
        if objects.ndim == 1:
            objects = np.broadcast_to(objects, (self.num_envs, *objects.shape))
        if (objects.shape != (self.num_envs, self.world.n_nodes) or not np.issubdtype(objects.dtype, np.integer)
                or objects.min() < 0 or objects.max() >= self.n_objects):
            raise ValueError(f"options['objects'] must be ({self.world.n_nodes},) or ({self.num_envs}, "
                             f"{self.world.n_nodes}) integers in [0, {self.n_objects}), got shape "
                             f"{objects.shape} dtype {objects.dtype}")
        return objects.astype(np.int64)


class GridVectorEnv(WorldVectorEnv):
    """``num_envs`` agents on copies of a square or hexagonal grid: the vector form of
    :class:`envs.gym_env.GridEnv` (same arguments, plus ``num_envs``, ``max_episode_steps`` and
    ``autoreset_mode``; see :class:`WorldVectorEnv` for spaces, autoreset and info).

    ``gym.make_vec("tem/Grid-v0", num_envs=N, width=8, height=None, shape="square", periodic=False,
    n_objects=45, stay_action=False)`` (``vectorization_mode="vector_entry_point"`` is the default).
    """

    def __init__(self, num_envs: int, width: int = 8, height: int | None = None, shape: str = "square",
                 periodic: bool = False, n_objects: int = 45, stay_action: bool = False,
                 max_episode_steps: int | None = None, autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                 render_mode: str | None = None):
        if shape not in GRID_SHAPES:
            raise ValueError(f"shape must be one of {GRID_SHAPES}, got {shape!r}")
        build = square_grid if shape == "square" else hex_grid
        world = build(width, height, periodic=periodic, stay_action=stay_action)
        super().__init__(world, num_envs, n_objects=n_objects, max_episode_steps=max_episode_steps,
                         autoreset_mode=autoreset_mode, render_mode=render_mode)


class GraphVectorEnv(WorldVectorEnv):
    """``num_envs`` agents on copies of a world built from a labelled ``networkx`` graph: the vector
    form of :class:`envs.gym_env.GraphEnv` (``gym.make_vec("tem/Graph-v0", num_envs=N, graph=G)``)."""

    def __init__(self, num_envs: int, graph: nx.Graph, n_objects: int = 45, render_mode: str | None = None,
                 actions=None, inverse_actions=None, max_episode_steps: int | None = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP):
        world = from_networkx(graph, actions=actions, inverse_actions=inverse_actions)
        super().__init__(world, num_envs, n_objects=n_objects, max_episode_steps=max_episode_steps,
                         autoreset_mode=autoreset_mode, render_mode=render_mode)
