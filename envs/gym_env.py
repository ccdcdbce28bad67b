"""Gymnasium faces of the worlds: one agent, one world, observation = the object under the agent.

These envs wrap the same :class:`envs.world.World` as the batched
:class:`envs.walks.WalkSampler`, so a walk replayed here visits the same nodes.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import networkx as nx
import numpy as np
from gymnasium import spaces

from envs.graphs import from_networkx
from envs.grids import hex_grid, square_grid
from envs.world import World, check_n_objects

GRID_SHAPES = ("square", "hex")
RESET_OPTIONS = ("node", "objects")


class WorldEnv(gym.Env):
    """An agent walking on a :class:`~envs.world.World` whose nodes carry random object ids.

    ## Description
    The world is a directed graph whose edges are labelled by actions (a square or hexagonal grid,
    a line, a ring, a family tree, any labelled ``networkx`` graph). Every reset draws a fresh
    object id for each node, i.i.d. uniform over ``n_objects``, and a uniform start node: the
    structure stays, the sensory content is new. This is the task of the Tolman-Eichenbaum Machine:
    predict the object seen after each action. There is no reward; the env is a data source.

    ## Action Space
    ``Discrete(world.n_actions)``; the action names are ``world.action_names`` (for a square grid
    ``0: N, 1: E, 2: S, 3: W`` and ``4: stay`` if enabled). An action that is unavailable at the
    current node (``info["action_mask"][a] == 0``, e.g. into a wall) leaves the agent in place.

    ## Observation Space
    ``Discrete(n_objects)``: the object id at the agent's node.

    ## Starting State
    A node drawn uniformly from all nodes (or ``options={"node": n}``).

    ## Reward
    Always 0.0.

    ## Episode End
    Never terminates. Truncation comes from ``max_episode_steps`` (1000 at registration).

    ## Information
    ``reset`` and ``step`` return ``info`` with ``"node"`` (int, the agent's node),
    ``"pos"`` (``(2,)`` float64, its plotting position) and ``"action_mask"``
    (``(n_actions,)`` int8, 1 where the action is available at that node).

    ## Arguments
    ``world``: the :class:`~envs.world.World`; ``n_objects``: number of object ids (default 45);
    ``render_mode``: ``None``, ``"rgb_array"`` or ``"ansi"``. ``reset(options=...)`` accepts
    ``"node"`` (the start node) and ``"objects"`` (``(n_nodes,)`` ids in ``[0, n_objects)``, used
    instead of fresh random ones).

    ## Version History
    * v0: Initial version.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(self, world: World, n_objects: int = 45, render_mode: str | None = None):
        if not isinstance(world, World):
            raise ValueError(f"world must be an envs.world.World, got {type(world).__name__}")
        check_n_objects(n_objects)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, "
                             f"got {render_mode!r}")
        self.world = world
        self.n_objects = int(n_objects)
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(world.n_actions)
        self.observation_space = spaces.Discrete(self.n_objects)
        self.objects: np.ndarray | None = None  # (n_nodes,) int64, set by reset
        self.node: int | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Draw new objects and a start node; returns ``(obs, info)``."""
        super().reset(seed=seed)
        options = {} if options is None else dict(options)
        unknown = sorted(set(options) - set(RESET_OPTIONS), key=str)
        if unknown:
            raise ValueError(f"options has unknown keys {unknown}; known keys: {list(RESET_OPTIONS)}")
        objects = self.world.sample_objects(self.n_objects, self.np_random)
        node = int(self.np_random.integers(self.world.n_nodes))
        if options.get("objects") is not None:
            objects = self._check_objects(options["objects"])
        if options.get("node") is not None:
            node = self._check_node(options["node"])
        self.objects, self.node = objects, node
        return self._obs(), self._info()

    def step(self, action):
        """Move by ``action``; returns ``(obs, 0.0, False, False, info)``."""
        if self.node is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an integer in [0, {self.world.n_actions}), got {action!r}")
        self.node = self.world.step(self.node, int(action))
        return self._obs(), 0.0, False, False, self._info()

    def render(self):
        """``"rgb_array"``: ``(H, W, 3)`` uint8 image; ``"ansi"``: a text map; ``None``: nothing."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode to the env")
            return None
        if self.node is None:
            raise gym.error.ResetNeeded("call reset() before render()")
        from envs import render  # matplotlib is imported only when a picture is asked for

        if self.render_mode == "ansi":
            return render.render_ansi(self.world, self.objects, self.node)
        return render.render_rgb(self.world, self.objects, self.node, self.n_objects)

    def _obs(self) -> int:
        return int(self.objects[self.node])

    def _info(self) -> dict[str, Any]:
        return {"node": self.node, "pos": self.world.positions[self.node].copy(),
                "action_mask": self.world.action_mask(self.node)}

    def _check_node(self, node) -> int:
        if (isinstance(node, bool) or not isinstance(node, (int, np.integer))
                or not 0 <= node < self.world.n_nodes):
            raise ValueError(f"options['node'] must be an integer in [0, {self.world.n_nodes}), got {node!r}")
        return int(node)

    def _check_objects(self, objects) -> np.ndarray:
        objects = np.asarray(objects)
        if (objects.shape != (self.world.n_nodes,) or not np.issubdtype(objects.dtype, np.integer)
                or objects.min() < 0 or objects.max() >= self.n_objects):
            raise ValueError(f"options['objects'] must be {self.world.n_nodes} integers in "
                             f"[0, {self.n_objects}), got shape {objects.shape} dtype {objects.dtype}")
        return objects.astype(np.int64)


class GridEnv(WorldEnv):
    """A square or hexagonal grid world (see :class:`WorldEnv` for spaces, reward and info).

    ## Description
    A ``width x height`` grid, bounded (walls) or periodic (torus). Square grids have actions
    ``N, E, S, W``; hexagonal grids ``E, NE, NW, W, SW, SE``; both optionally ``stay``.

    ## Action Space
    ``Discrete(4)`` (square), ``Discrete(6)`` (hex), one more with ``stay_action``.

    ## Observation Space
    ``Discrete(n_objects)``: the object id at the agent's node.

    ## Starting State
    A uniform random node (or ``options={"node": n}``), with node ``v = y * width + x``.

    ## Reward
    Always 0.0.

    ## Episode End
    Never terminates; ``tem/Grid-v0`` truncates after ``max_episode_steps`` (default 1000).

    ## Information
    ``"node"`` (int), ``"pos"`` (``(2,)`` float64) and ``"action_mask"`` (``(n_actions,)`` int8).

    ## Arguments
    ``gym.make("tem/Grid-v0", width=8, height=None, shape="square", periodic=False,
    n_objects=45, stay_action=False, render_mode=None)``; ``height`` defaults to ``width``; a
    periodic hex grid needs an even ``height``.

    ## Version History
    * v0: Initial version.
    """

    def __init__(self, width: int = 8, height: int | None = None, shape: str = "square",
                 periodic: bool = False, n_objects: int = 45, stay_action: bool = False,
                 render_mode: str | None = None):
        if shape not in GRID_SHAPES:
            raise ValueError(f"shape must be one of {GRID_SHAPES}, got {shape!r}")
        build = square_grid if shape == "square" else hex_grid
        world = build(width, height, periodic=periodic, stay_action=stay_action)
        super().__init__(world, n_objects=n_objects, render_mode=render_mode)


class GraphEnv(WorldEnv):
    """A world built from a ``networkx`` graph with ``action`` labels on its edges.

    ## Description
    Any connected graph whose edges carry an ``action`` attribute (see
    :func:`envs.graphs.from_networkx`): a line, a ring, a family tree, your own graph.

    ## Action Space
    ``Discrete(len(actions))``; action ids follow ``actions`` (default: the sorted edge labels).

    ## Observation Space
    ``Discrete(n_objects)``: the object id at the agent's node.

    ## Starting State
    A uniform random node (or ``options={"node": n}`` with ``n`` the node's index in
    ``list(graph.nodes)``).

    ## Reward
    Always 0.0.

    ## Episode End
    Never terminates; ``tem/Graph-v0`` truncates after ``max_episode_steps`` (default 1000).

    ## Information
    ``"node"`` (int index), ``"pos"`` (``(2,)`` float64) and ``"action_mask"`` (int8).

    ## Arguments
    ``gym.make("tem/Graph-v0", graph=G, n_objects=45, render_mode=None, actions=None,
    inverse_actions=None)``; ``actions`` and ``inverse_actions`` are passed to ``from_networkx``.

    ## Version History
    * v0: Initial version.
    """

    def __init__(self, graph: nx.Graph, n_objects: int = 45, render_mode: str | None = None,
                 actions=None, inverse_actions=None):
        world = from_networkx(graph, actions=actions, inverse_actions=inverse_actions)
        super().__init__(world, n_objects=n_objects, render_mode=render_mode)
