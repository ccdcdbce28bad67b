"""Worlds for cognitive-map models: grids, graphs, walks and their Gymnasium faces.

Importing this package registers ``tem/Grid-v0`` and ``tem/Graph-v0`` with Gymnasium.
"""
from envs.families import FAMILIES, make_worlds
from envs.graphs import family_tree, from_networkx, line, ring
from envs.grids import hex_grid, square_grid
from envs.walks import Batch, WalkPolicy, WalkSampler
from envs.world import NO_ACTION, World

__all__ = ["FAMILIES", "NO_ACTION", "Batch", "WalkPolicy", "WalkSampler", "World", "family_tree",
           "from_networkx", "hex_grid", "line", "make_worlds", "ring", "square_grid"]
