"""Worlds for cognitive-map models: grids, graphs, world files, walks and their Gymnasium faces.

Importing this package registers ``tem/Grid-v0`` and ``tem/Graph-v0`` with Gymnasium, both for
``gym.make`` and for ``gym.make_vec`` (their vector forms, :mod:`envs.vector`).
"""
from envs.families import FAMILIES, GRID_KINDS, make_worlds
from envs.files import FILE_EXTENSIONS, load_world, save_world
from envs.graphs import FAMILY_TREE_RELATIONS, family_tree, from_networkx, line, line_jumps, ring
from envs.grids import hex_grid, square_grid
from envs.tasks import laps, w_maze
from envs.walks import Batch, WalkPolicy, WalkSampler
from envs.world import NO_ACTION, World

__all__ = ["FAMILIES", "FAMILY_TREE_RELATIONS", "FILE_EXTENSIONS", "GRID_KINDS", "NO_ACTION", "Batch", "WalkPolicy",
           "WalkSampler", "World", "family_tree", "from_networkx", "hex_grid", "line", "line_jumps", "load_world",
           "laps", "make_worlds", "ring", "save_world", "square_grid", "w_maze"]

# ---- Gymnasium registration -------------------------------------------------------------------
from gymnasium.envs.registration import register, registry  # noqa: E402

from envs.gym_env import GraphEnv, GridEnv, WorldEnv  # noqa: E402
from envs.vector import GraphVectorEnv, GridVectorEnv, WorldVectorEnv  # noqa: E402

__all__ += ["GraphEnv", "GraphVectorEnv", "GridEnv", "GridVectorEnv", "WorldEnv", "WorldVectorEnv"]

MAX_EPISODE_STEPS = 1000
"""Default truncation of the registered envs; override with ``gym.make(..., max_episode_steps=n)``."""

if "tem/Grid-v0" not in registry:  # importing twice (e.g. after a module reload) must not re-register
    register(id="tem/Grid-v0", entry_point="envs.gym_env:GridEnv", vector_entry_point="envs.vector:GridVectorEnv",
             max_episode_steps=MAX_EPISODE_STEPS,
             kwargs={"width": 8, "height": None, "shape": "square", "periodic": False,
                     "n_objects": 45, "stay_action": False})
if "tem/Graph-v0" not in registry:
    register(id="tem/Graph-v0", entry_point="envs.gym_env:GraphEnv", vector_entry_point="envs.vector:GraphVectorEnv",
             max_episode_steps=MAX_EPISODE_STEPS)
