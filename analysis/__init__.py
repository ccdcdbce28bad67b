"""Analysis: zero-shot evaluation, rate maps, spatial scores (gridness, place-likeness) and plots.

Importing the package loads only numpy/scipy code (``analysis.maps``: rasters and correlograms;
``analysis.gridness``: grid scores; ``analysis.place``: place scores); the model-facing modules
(``analysis.evaluate``) import torch and are imported explicitly.
"""
from analysis.gridness import fraction_above, grid_scores, grid_spacing_orientation, score_units
from analysis.maps import (autocorrelogram, crosscorrelogram, default_bin_size, rasterise,
                           shuffle_threshold, shuffle_thresholds, shuffled_maps, smooth_map)
from analysis.place import count_fields, node_maps, place_cell_scores, spatial_information

__all__ = ["autocorrelogram", "count_fields", "crosscorrelogram", "default_bin_size", "fraction_above",
           "grid_scores", "grid_spacing_orientation", "node_maps", "place_cell_scores", "rasterise",
           "score_units", "shuffle_threshold", "shuffle_thresholds", "shuffled_maps", "smooth_map",
           "spatial_information"]
