"""The analysis of a run directory: zero-shot evaluation and rate maps, with their files and figures.

:func:`evaluate_run` and :func:`ratemaps_run` read a run directory written by ``train.py`` (the
model through :func:`tem.load_model`) and write their JSON, CSV and PNG files back into it; the
command line (``python -m analysis``) and ``train.py``'s end-of-run analysis both call them.
"""
from __future__ import annotations

import csv
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from analysis.config import EvalConfig, RatemapConfig
from analysis.gridness import fraction_above, score_units
from analysis.maps import autocorrelograms, default_bin_size, raster_layout, rasterise_many
from analysis.place import PLACE_METHOD, place_cell_scores
from analysis.ratemaps import mec_modules, record_walks
from envs import make_worlds
from envs.files import is_file_spec
from tem.checkpoint import load_checkpoint, restore_model, save_json

RATEMAP_SIDE = 20
MIN_GRIDNESS = 0.3  # a grid cell: s60 above this and above its shuffle threshold
DISTINCT_SPACING = 1.2  # modules whose median grid spacings differ by this factor are distinct


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", spec).strip("-")


def load_run(run_dir, device: str = "cpu"):
    """``(model, checkpoint)`` of a run directory: the trained model in eval mode and its checkpoint
    (``checkpoint["config"]``: the run's config as a plain dict)."""
    checkpoint = load_checkpoint(run_dir)
    return restore_model(checkpoint).to(device).eval(), checkpoint


def _worlds_for(spec: str, model):
    """The worlds of ``spec``, refused when their actions differ from the model's."""
    worlds = make_worlds(spec)
    if tuple(worlds[0].action_names) != model.task.action_names:
        raise ValueError(f"world {spec!r} has actions {list(worlds[0].action_names)} but the model was trained "
                         f"with {list(model.task.action_names)}; use a family with the same actions")
    return worlds


def evaluate_run(run_dir, settings: EvalConfig = EvalConfig(), *, device: str = "cpu", window: int = 100,
                 progress: bool = True) -> dict:
    """Zero-shot evaluation of the model in ``run_dir`` on ``settings.worlds`` fresh worlds of
    ``settings.world`` (default: its training family), beside the node-visited, edge-visited and
    ideal-observer agents (:mod:`analysis.ideal`) on the same walks. Writes ``eval[-WORLD].json``,
    ``accuracy_vs_visited[-WORLD].csv`` and ``.png``; returns the summary dict."""
    from analysis.evaluate import EVAL_SEED_OFFSET, accuracy_curves, run_walks, score_walks
    from analysis.ideal import ideal_observer
    from analysis.plots import plot_accuracy_vs_visited

    run_dir = Path(run_dir)
    model, checkpoint = load_run(run_dir, device)
    config, n_objects = checkpoint["config"], model.task.n_objects
    spec = settings.world or config["data"]["world"]
    worlds = _worlds_for(spec, model)
    seed = config["run"]["seed"] + EVAL_SEED_OFFSET if settings.seed is None else settings.seed
    walks = run_walks(model, worlds, settings.worlds, settings.walk_length, n_objects=n_objects, window=window,
                      seed=seed, device=device, progress=progress)
    ideal = ideal_observer(worlds, walks.obs, walks.action, n_objects)
    summary = score_walks(walks, worlds[0].n_actions, n_objects, action_names=worlds[0].action_names, ideal=ideal)
    summary.update(world=spec, n_worlds=settings.worlds, walk_length=settings.walk_length, seed=seed,
                   step=checkpoint["step"])
    suffix = "-" + _slug(spec) if settings.world else ""
    save_json(run_dir / f"eval{suffix}.json", summary)
    curves = accuracy_curves(walks, worlds, n_objects, ideal=ideal.correct)
    curves.setdefault("ideal", np.full(len(curves["count"]), np.nan))  # skipped: an empty column
    keys = ("visited_fraction", "count", "model", "node_agent", "edge_agent", "ideal")
    with open(run_dir / f"accuracy_vs_visited{suffix}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(keys)
        writer.writerows(zip(*(np.round(curves[k], 5) for k in keys)))
    fig, _ = plot_accuracy_vs_visited(curves, title=f"{spec}: link inference {summary['link_inference_acc']:.3f}"
                                                    f"{_ideal_title(summary)}")
    _save(fig, run_dir / f"accuracy_vs_visited{suffix}.png")
    return summary


def _ideal_title(summary: dict) -> str:
    acc = summary.get("ideal_observer_acc")
    return "" if acc is None else f" (ideal observer {acc:.3f})"


def default_ratemap_world(spec: str) -> str:
    """A larger world of the training kind for rate maps (lattice worlds: 20x20); else the family itself
    (its largest world is mapped)."""
    kind = spec.partition(":")[0]
    if not is_file_spec(spec) and make_worlds(spec)[0].lattice is not None:
        return f"{kind}:{RATEMAP_SIDE}"
    return spec


def ratemaps_run(run_dir, settings: RatemapConfig = RatemapConfig(), *, device: str = "cpu",
                 progress: bool = True, threads: int | None = None) -> dict:
    """Rate maps, spatial scores and remapping of the model in ``run_dir`` on ``settings.world``
    (default: the run's own rate-map world).

    Writes ``ratemaps.json`` (per-unit scores, fractions, methods), ``ratemaps_mec.png``,
    ``ratemaps_hpc.png``, ``autocorrelograms_mec.png``, ``cells_mec.png``, ``cells_hpc.png`` and
    ``remapping.png`` (``splitter_cells.png`` on a W-maze, ``lap_cells.png`` on a laps track:
    :func:`_latent_cells`; and ``grid_place_relationship.png`` when the model's hippocampal units are a
    fixed population: :func:`analysis.relationship.relationship_for_run`); each name ends in
    ``-WORLD`` when the world is not the run's own rate-map world, so that maps on another world
    never overwrite the run's. The two walks (the maps, and the world with new objects for
    remapping) run in step as one batch on ``threads`` torch threads
    (:func:`analysis.ratemaps.record_walks`; None: one per walk).
    """
    from analysis.remapping import remapping_scores

    run_dir = Path(run_dir)
    start = time.perf_counter()
    model, checkpoint = load_run(run_dir, device)
    config, n_objects = checkpoint["config"], model.task.n_objects
    own = config["ratemaps"]["world"] or default_ratemap_world(config["data"]["world"])
    spec = settings.world or own
    suffix = "" if spec == own else "-" + _slug(spec)
    target = max(_worlds_for(spec, model), key=lambda w: w.n_nodes)
    walk_length = settings.walk_length or 50 * target.n_nodes  # ~25 visits per node in the second half
    maps, other = record_walks(model, target, walk_length, seeds=(settings.seed, settings.seed + 1),
                               n_objects=n_objects, n_hpc_units=settings.units, device=device, progress=progress,
                               threads=threads)
    result = {"world": target.name, "walk_length": walk_length, "n_mec_units": len(maps.mec),
              "n_hpc_units": len(maps.hippocampus), "model": model.kind, "hpc_unit_kind": model.hippocampal_units,
              "memory": model.memory_kind}
    is_grid_world = target.lattice is not None
    modules = mec_modules(model)
    if not is_grid_world:
        result["note"] = "grid and place scores need a square or hexagonal world; maps only"
    # the grid scores take seconds, mostly outside the GIL: what needs none is computed and drawn meanwhile
    with ThreadPoolExecutor(max_workers=1) as background:
        grid = (background.submit(_grid_scores, maps, target, settings.shuffles, settings.seed, progress)
                if is_grid_world else None)
        place = _place_scores(maps, target, settings.shuffles, settings.seed) if is_grid_world else None
        remapping = remapping_scores(maps, other, target)
        _plot_hippocampus(run_dir, maps, other, target, None if place is None else _hpc_entries(place), remapping,
                          suffix)
        if is_grid_world:
            result.update(_scores(grid.result(), place, settings.shuffles))
            result.update(_module_summary(result["mec_units"], modules, default_bin_size(target.positions)))
    result["remapping"] = remapping
    _latent_cells(run_dir, maps, target, result, settings, suffix)
    _plot_mec(run_dir, maps, target, result, modules, suffix)
    _grid_place_relationship(run_dir, model, maps, other, target, result, settings, suffix)
    result["seconds"] = round(time.perf_counter() - start, 1)
    save_json(run_dir / f"ratemaps{suffix}.json", result)
    return result


def _grid_scores(maps, world, n_shuffles: int, seed: int, progress: bool) -> list[dict]:
    """Grid scores of the MEC units (shuffles permute node values)."""
    return score_units(maps.mec, positions=world.positions, n_shuffles=n_shuffles, progress=progress, rng=seed)


def _place_scores(maps, world, n_shuffles: int, seed: int) -> list[dict]:
    """Place scores of the hippocampal units."""
    return place_cell_scores(maps.hpc_trace, maps.nodes, world, n_shuffles=n_shuffles, rng=seed + 1)


def _scores(grid: list[dict], place: list[dict], n_shuffles: int) -> dict:
    """The ``ratemaps.json`` entries of the grid scores of the MEC units and the place scores of the
    hippocampal units."""
    keep = ("s60", "s90", "s60_threshold", "s90_threshold", "spacing", "orientation", "is_grid")
    return {
        "grid_method": grid[0]["method"], "grid_params": grid[0]["params"],
        "place_method": PLACE_METHOD, "place_params": {"n_shuffles": n_shuffles, "percentile": 95},
        "mec_fraction_grid": fraction_above(grid, "s60", "s60_threshold"),
        "mec_fraction_square_grid": fraction_above(grid, "s90", "s90_threshold"),
        "hpc_fraction_place": float(np.mean([p["is_place"] for p in place])),
        "mec_units": [{k: _plain(g[k]) for k in keep} for g in grid],
        "hpc_units": _hpc_entries(place),
    }


def _hpc_entries(place: list[dict]) -> list[dict]:
    """The ``ratemaps.json`` entry of each hippocampal unit's place scores (rounded)."""
    keep = ("spatial_information", "spatial_information_threshold", "n_fields", "field_fraction", "is_place")
    return [{k: _plain(p[k]) for k in keep} for p in place]


def _grid_cells(units: list[dict], bin_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Which MEC units are grid cells (s60 above ``MIN_GRIDNESS`` and its shuffle threshold), and
    every unit's grid spacing in node steps (``spacing`` is in raster bins of ``bin_size``)."""
    is_grid = np.array([u["is_grid"] and (u["s60"] or 0) > MIN_GRIDNESS for u in units], dtype=bool)
    spacing = np.array([np.nan if u["spacing"] is None else u["spacing"] * bin_size for u in units])
    return is_grid, spacing


def _module_summary(units: list[dict], modules: np.ndarray, bin_size: float = 1.0) -> dict:
    """Grid cells per MEC module, their median spacing in node steps (``spacing`` is in raster bins
    of ``bin_size``) and the number of distinct spacing modules among modules with at least 3 grid
    cells (median spacings more than ``DISTINCT_SPACING`` apart)."""
    is_grid, spacing = _grid_cells(units, bin_size)
    summary = []
    for m in np.unique(modules):
        grid = is_grid & (modules == m)
        median = float(np.nanmedian(spacing[grid])) if np.isfinite(spacing[grid]).any() else None
        summary.append({"module": int(m), "units": int((modules == m).sum()), "grid_cells": int(grid.sum()),
                        "median_spacing_nodes": None if median is None else round(median, 2)})
    spacings = sorted(s["median_spacing_nodes"] for s in summary
                      if s["grid_cells"] >= 3 and s["median_spacing_nodes"])
    distinct = sum(1 for i, x in enumerate(spacings) if i == 0 or x > DISTINCT_SPACING * spacings[i - 1])
    return {"mec_fraction_grid_cells": float(is_grid.mean()) if len(units) else float("nan"),
            "grid_cell_rule": f"s60 > {MIN_GRIDNESS} and s60 above its shuffle threshold",
            "mec_modules": summary, "mec_distinct_spacing_modules": distinct}


def _plain(value):
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else round(float(value), 4)
    return value.item() if isinstance(value, np.generic) else value


def _fmt(value) -> str:
    return "nan" if value is None else f"{value:.2f}"


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    # zlib level 1, not PIL's 6: the quick run's six figures 0.83-1.06 -> 0.75-1.04 s, 15% larger files
    fig.savefig(path, dpi=110, pil_kwargs={"compress_level": 1})
    plt.close(fig)


def _plot_hippocampus(run_dir: Path, maps, other, world, hpc: list[dict] | None, remapping: dict,
                      suffix: str = "", n: int = 8) -> None:
    """``ratemaps_hpc.png``; on grid worlds (``hpc``: the units' place scores, :func:`_hpc_entries`)
    ``cells_hpc.png``: the ``n`` most informative place units (then other units), their
    autocorrelograms and the field sizes of all place units; ``remapping.png``."""
    from analysis.plots import plot_cell_summary, plot_node_maps
    from analysis.remapping import plot_remapping

    titles = None if hpc is None else [f"{i}: {_fmt(u['spatial_information'])} bits, {u['n_fields']} field(s)"
                                       for i, u in enumerate(hpc)]
    fig, _ = plot_node_maps(maps.hippocampus, world, titles=titles,
                            suptitle=f"hippocampal memory units on {world.name}")
    _save(fig, run_dir / f"ratemaps_hpc{suffix}.png")
    if hpc is not None:
        place = np.array([u["is_place"] for u in hpc])
        information = np.array([u["spatial_information"] or 0.0 for u in hpc])
        best = np.lexsort((-information, ~place))[:n]  # place units first, most informative first
        visited = np.isfinite(maps.hippocampus).any(axis=0).sum()
        field_size = np.array([u["field_fraction"] * visited for u in hpc])
        best_autocorrelograms = autocorrelograms(rasterise_many(maps.hippocampus[best], raster_layout(world.positions)))
        fig, _ = plot_cell_summary(
            maps.hippocampus[best], best_autocorrelograms, world, field_size[place],
            titles=[f"unit {i}: {_fmt(hpc[i]['spatial_information'])} bits, {hpc[i]['n_fields']} "
                    f"field{'' if hpc[i]['n_fields'] == 1 else 's'}" for i in best],
            hist_label="field size of place units (nodes)",
            suptitle=f"hippocampus: best units on {world.name}; {place.sum()}/{len(hpc)} place units")
        _save(fig, run_dir / f"cells_hpc{suffix}.png")
    fig, _ = plot_remapping(maps, other, world, remapping)
    _save(fig, run_dir / f"remapping{suffix}.png")


def _plot_mec(run_dir: Path, maps, world, result: dict, modules: np.ndarray, suffix: str = "", n: int = 8) -> None:
    """``ratemaps_mec.png``; on grid worlds ``autocorrelograms_mec.png`` and ``cells_mec.png``: the
    ``n`` MEC units of highest s60, their autocorrelograms and the grid spacings of all grid cells
    by module."""
    from analysis.plots import plot_cell_summary, plot_images, plot_node_maps

    mec = result.get("mec_units")
    titles = None if mec is None else [f"{i}: s60 {_fmt(u['s60'])}, s90 {_fmt(u['s90'])}" for i, u in enumerate(mec)]
    fig, _ = plot_node_maps(maps.mec, world, titles=titles, suptitle=f"MEC position-code units on {world.name}")
    _save(fig, run_dir / f"ratemaps_mec{suffix}.png")
    if mec is None:
        return
    images = autocorrelograms(rasterise_many(maps.mec, raster_layout(world.positions)))
    fig, _ = plot_images(images, titles=titles, suptitle=f"autocorrelograms of MEC units ({world.name})")
    _save(fig, run_dir / f"autocorrelograms_mec{suffix}.png")
    s60 = np.array([-np.inf if u["s60"] is None else u["s60"] for u in mec])
    best = np.argsort(-s60, kind="stable")[:n]
    grid, spacing = _grid_cells(mec, default_bin_size(world.positions))
    fig, _ = plot_cell_summary(
        maps.mec[best], [images[i] for i in best], world, spacing[grid], modules[grid],
        titles=[f"unit {i} (m{modules[i]}) s60 {_fmt(mec[i]['s60'])}" for i in best],
        hist_label="grid spacing of grid cells (nodes)",
        suptitle=f"MEC: best units on {world.name}; {grid.sum()}/{len(mec)} grid cells "
                 f"(s60 > {MIN_GRIDNESS} and above shuffle)")
    _save(fig, run_dir / f"cells_mec{suffix}.png")


def _grid_place_relationship(run_dir: Path, model, maps, other, world, result: dict, settings: RatemapConfig,
                             suffix: str = "") -> None:
    """``result["grid_place_relationship"]`` (:func:`analysis.relationship.relationship_for_run`) and,
    when there are pairs, ``grid_place_relationship.png``."""
    from analysis.plots import plot_grid_place_relationship
    from analysis.relationship import relationship_for_run

    is_place = [u["is_place"] for u in result.get("hpc_units", [])] or np.zeros(len(maps.hippocampus), bool)
    relation, pairs = relationship_for_run(model, maps, other, world, is_place, n_shuffles=settings.shuffles,
                                           seed=settings.seed + 2)
    result["grid_place_relationship"] = relation
    if pairs is not None:
        fig, _ = plot_grid_place_relationship(*pairs, relation, title=f"grid-place relationship ({world.name})")
        _save(fig, run_dir / f"grid_place_relationship{suffix}.png")


def _latent_cells(run_dir: Path, maps, world, result: dict, settings: RatemapConfig, suffix: str = "",
                  n: int = 8) -> None:
    """On a W-maze or laps world: the hippocampal units' splitter or lap scores into ``result``
    (:func:`analysis.latent_cells.latent_cell_summary`) and ``splitter_cells.png`` or
    ``lap_cells.png``, the ``n`` units of highest score relative to their shuffle threshold."""
    from analysis.latent_cells import latent_cell_summary
    from analysis.plots import plot_lap_cells, plot_splitter_cells

    summary, scores = latent_cell_summary(maps.hpc_trace, maps.nodes, world, n_shuffles=settings.shuffles,
                                          seed=settings.seed + 3)
    if scores is None:
        return
    result.update(summary)
    for key in ("splitter_fraction", "lap_fraction"):  # the plain names, as the issue and the papers say
        if f"hpc_{key}" in summary:
            result[key] = summary[f"hpc_{key}"]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.nan_to_num(scores["score"] / scores["threshold"], nan=-np.inf)
    best = np.argsort(-ratio, kind="stable")[:n]
    flag = scores["is_splitter"] if "is_splitter" in scores else scores["is_lap"]
    titles = [f"u{i}: {scores['score'][i]:.2g} (95% {scores['threshold'][i]:.2g}){' *' if flag[i] else ''}"
              for i in best]
    if "is_splitter" in scores:
        fig, _ = plot_splitter_cells(scores["rates"][:, :, best], titles=titles,
                                     suptitle=f"hippocampus on {world.name}: {flag.sum()}/{len(flag)} splitter "
                                              f"units (*); stem rates by run direction")
        _save(fig, run_dir / f"splitter_cells{suffix}.png")
    else:
        fig, _ = plot_lap_cells(scores["lap_rates"][:, best], scores["rates"][:, :, best], titles=titles,
                                suptitle=f"hippocampus on {world.name}: {flag.sum()}/{len(flag)} lap units (*); "
                                         f"rate per lap")
        _save(fig, run_dir / f"lap_cells{suffix}.png")
