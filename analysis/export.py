"""Export a model's cells to the tools neuroscientists use: NWB, pynapple, xarray/netCDF and CSV.

:func:`export_run` walks the model of a run directory through one world, as ``ratemaps`` does (same
world, walk, seed, units and rate maps), and writes, in the chosen format, per walk step the node,
its 2D position, the action, the object and the activity of every MEC unit and of the mapped
hippocampal units; the rate maps of those units (mean activity per node over the second half of the
walk, NaN where unvisited) with the node coordinates and occupancy; per-unit metadata (MEC module,
gridness, place-likeness); and the run's config.

Time: one step per second (``DT``); step ``k`` is at ``t = k``. Positions are the world's node
coordinates (lattice units: one node spacing = 1). The rate-map epoch is the steps
``half = walk_length // 2`` to ``walk_length - 1`` (both ends inclusive, as pynapple restricts).

NWB, pynapple and netCDF need the ``export`` extra (``pip install -e ".[export]"``); CSV needs nothing.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import numpy as np

from analysis.config import RatemapConfig

DT = 1.0  # seconds per walk step
FORMATS = {"nwb": ("pynwb",), "pynapple": ("pynapple",), "netcdf": ("xarray", "h5netcdf"), "csv": ()}
EXTRA = 'pip install -e ".[export]"'


class MissingExtra(ImportError):
    """A format whose library is not installed."""


class Walk(NamedTuple):
    """A walk step by step: ``node``, ``action`` (-1 at the first step), ``obj`` (the object seen):
    ``(T,)`` int64; ``mec (T, n_mec)`` and ``hpc (T, n_hpc)`` float32 activity; ``hpc_units
    (n_hpc,)`` the memory unit of each hippocampal column (the step that wrote it, or the neuron)."""

    node: np.ndarray
    action: np.ndarray
    obj: np.ndarray
    mec: np.ndarray
    hpc: np.ndarray
    hpc_units: np.ndarray


class Export(NamedTuple):
    """Everything that is exported. ``walk``: the :class:`Walk`; ``world``: the :class:`envs.World`;
    ``maps``: :class:`analysis.ratemaps.RateMaps` (``mec (n_mec, n_nodes)``, ``hippocampus (n_hpc,
    n_nodes)``, ``occupancy (n_nodes,)``); ``mec_info``, ``hpc_info``: per-unit metadata, columns of
    ``(n_mec,)`` and ``(n_hpc,)`` arrays; ``meta``: run, world, settings and the run's ``config``."""

    walk: Walk
    world: object
    maps: object
    mec_info: dict
    hpc_info: dict
    meta: dict

    @property
    def position(self) -> np.ndarray:
        """``(T, 2)`` the (x, y) position of each step."""
        return self.world.positions[self.walk.node]

    @property
    def time(self) -> np.ndarray:
        """``(T,)`` the time of each step (``DT`` per step)."""
        return np.arange(len(self.walk.node)) * DT


def require(format: str) -> None:
    """Raise ``ValueError`` for an unknown format and :class:`MissingExtra` when its libraries are
    not installed."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    missing = [m for m in FORMATS[format] if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtra(f"--format {format} needs {', '.join(missing)}: install the export extra ({EXTRA})")


def record_walk(model, world, walk_length: int, *, n_objects: int = 45, n_hpc_units: int = 32, window: int = 250,
                seed: int = 0, device="cpu", progress: bool = True) -> Walk:
    """Walk ``world`` as :func:`analysis.ratemaps.record_rate_maps` does (same sampler, seed and
    hippocampal units) and keep every step."""
    from analysis.ratemaps import UnitChooser, unit_activity, walk_windows

    chooser = UnitChooser(model.hippocampal_units == "neuron", n_hpc_units, walk_length // 2)
    units, pending = None, []  # pending: (activity, column units) of windows before units are known
    steps = {"node": [], "action": [], "obs": [], "mec": [], "hpc": []}
    windows = walk_windows(model, world, walk_length, n_objects=n_objects, window=window, seed=seed, device=device,
                           progress=progress)
    for w, (batch, out) in enumerate(windows):
        for key in ("node", "action", "obs"):
            steps[key].append(getattr(batch, key)[0])
        steps["mec"].append(out.mec[0].float().cpu().numpy())
        if units is None:  # units as ratemaps picks them, once known; the windows before wait
            pending.append((out.memory_activity[0], out.memory_units[0]))
            units = chooser.see(batch.node[0], np.arange(w * window, (w + 1) * window), *pending[-1])
            if units is not None:
                steps["hpc"] += [unit_activity(a, u, units) for a, u in pending]
        else:
            steps["hpc"].append(unit_activity(out.memory_activity[0], out.memory_units[0], units))
    node, action, obj, mec, hpc = (np.concatenate(steps[k])[:walk_length] for k in ("node", "action", "obs", "mec",
                                                                                      "hpc"))
    return Walk(node, action, obj, mec, hpc.astype(np.float32), np.asarray(units, dtype=np.int64))


def record_export(run_dir, settings: RatemapConfig = RatemapConfig(), *, device: str = "cpu", threads: int | None = 1,
                  progress: bool = True) -> Export:
    """The :class:`Export` of the model in ``run_dir`` on ``settings.world`` (default: the run's own
    rate-map world; its largest world for a family), ``settings.walk_length`` steps (0: 50 per node),
    ``settings.units`` hippocampal units, scores against ``settings.shuffles`` shuffles."""
    from analysis.pipeline import _worlds_for, default_ratemap_world, load_run
    from analysis.place import node_maps
    from analysis.ratemaps import RateMaps, mec_modules, torch_threads

    run_dir = Path(run_dir)
    model, checkpoint = load_run(run_dir, device)
    config = checkpoint["config"]
    spec = settings.world or config["ratemaps"]["world"] or default_ratemap_world(config["data"]["world"])
    world = max(_worlds_for(spec, model), key=lambda w: w.n_nodes)
    walk_length = settings.walk_length or 50 * world.n_nodes
    with torch_threads(threads if str(device).startswith("cpu") else None):
        walk = record_walk(model, world, walk_length, n_objects=model.task.n_objects, n_hpc_units=settings.units,
                           seed=settings.seed, device=device, progress=progress)
    half = walk_length // 2
    mec_maps, occupancy = node_maps(walk.mec[half:], walk.node[half:], world.n_nodes)
    hpc_maps, _ = node_maps(walk.hpc[half:], walk.node[half:], world.n_nodes)
    maps = RateMaps(mec_maps, hpc_maps, occupancy, walk.hpc_units, walk.node[half:], walk.hpc[half:].astype(float))
    mec_info = {"unit": np.arange(walk.mec.shape[1]), "module": mec_modules(model)}
    hpc_info = {"unit": np.arange(len(walk.hpc_units)), "memory_unit": walk.hpc_units}
    if world.lattice is not None:
        mec_scores, hpc_scores = unit_scores(maps, world, settings.shuffles, settings.seed, progress)
        mec_info.update(mec_scores)
        hpc_info.update(hpc_scores)
    meta = {"run": str(run_dir.resolve()), "step": int(checkpoint["step"]), "model": model.kind,
            "memory": model.memory_kind, "hpc_unit_kind": model.hippocampal_units, "world": world.name,
            "world_spec": spec, "lattice": world.lattice, "action_names": list(world.action_names),
            "walk_length": walk_length, "seed": settings.seed, "n_objects": model.task.n_objects,
            "n_shuffles": settings.shuffles, "dt": DT, "rate_map_steps": [half, walk_length - 1], "config": config}
    return Export(walk, world, maps, mec_info, hpc_info, meta)


def unit_scores(maps, world, n_shuffles: int, seed: int, progress: bool = False) -> tuple[dict, dict]:
    """Per-unit score columns of the MEC units (gridness: ``s60, s90``, their shuffle thresholds,
    ``spacing`` in node steps, ``orientation``, ``is_grid``, ``grid_cell``) and of the hippocampal
    units (Skaggs ``spatial_information``, its threshold, ``n_fields``, ``field_fraction``,
    ``is_place``), computed as ``ratemaps`` does (same functions, shuffles and seeds); NaN = undefined."""
    from analysis.gridness import score_units
    from analysis.maps import default_bin_size
    from analysis.pipeline import MIN_GRIDNESS
    from analysis.place import place_cell_scores

    grid = score_units(maps.mec, positions=world.positions, n_shuffles=n_shuffles, progress=progress, rng=seed)
    place = place_cell_scores(maps.hpc_trace, maps.nodes, world, n_shuffles=n_shuffles, rng=seed + 1)

    def column(scores, key, dtype=float):
        return np.array([np.nan if s[key] is None else s[key] for s in scores], dtype=dtype)

    mec = {k: column(grid, k) for k in ("s60", "s90", "s60_threshold", "s90_threshold", "spacing", "orientation")}
    mec["spacing"] = mec["spacing"] * default_bin_size(world.positions)  # raster bins -> node steps
    mec["is_grid"] = column(grid, "is_grid", bool)
    mec["grid_cell"] = mec["is_grid"] & (np.nan_to_num(mec["s60"], nan=-np.inf) > MIN_GRIDNESS)
    hpc = {k: column(place, k) for k in ("spatial_information", "spatial_information_threshold", "field_fraction")}
    hpc["n_fields"] = column(place, "n_fields", np.int64)
    hpc["is_place"] = column(place, "is_place", bool)
    return mec, hpc


def position_bins(positions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One bin per distinct node coordinate: ``x (nx,)``, ``y (ny,)`` (the centres) and their edges
    ``(nx + 1,)``, ``(ny + 1,)`` (midway between centres), for ``positions (n_nodes, 2)``. Give the
    edges to ``nap.compute_tuning_curves(..., bins=[x_edges, y_edges])`` to get the rate maps."""
    axes = []
    for values in np.asarray(positions, dtype=float).T:
        centres = np.unique(np.round(values, 9))
        step = np.diff(centres).min() if len(centres) > 1 else 1.0
        mids = (centres[1:] + centres[:-1]) / 2
        axes += [centres, np.concatenate([[centres[0] - step / 2], mids, [centres[-1] + step / 2]])]
    return axes[0], axes[2], axes[1], axes[3]


def grid_maps(node_values, positions) -> np.ndarray:
    """``(U, ny, nx)`` node values ``(U, n_nodes)`` placed at the bins of :func:`position_bins`
    (row = y, column = x; NaN where no node or unvisited)."""
    x, y, _, _ = position_bins(positions)
    positions = np.round(np.asarray(positions, dtype=float), 9)
    out = np.full((len(node_values), len(y), len(x)), np.nan)
    out[:, np.searchsorted(y, positions[:, 1]), np.searchsorted(x, positions[:, 0])] = node_values
    return out


def unit_table(export: Export) -> dict[str, np.ndarray]:
    """MEC then hippocampal units in one table: ``population``, ``index``, ``module`` (-1: none),
    ``memory_unit`` (-1: none) and every score column as float (NaN where it does not apply)."""
    n_mec, n_hpc = len(export.mec_info["unit"]), len(export.hpc_info["unit"])
    table = {"population": np.array(["mec"] * n_mec + ["hpc"] * n_hpc),
             "index": np.concatenate([export.mec_info["unit"], export.hpc_info["unit"]]),
             "module": np.concatenate([export.mec_info["module"], np.full(n_hpc, -1)]),
             "memory_unit": np.concatenate([np.full(n_mec, -1), export.hpc_info["memory_unit"]])}
    for info, before, after in ((export.mec_info, 0, n_hpc), (export.hpc_info, n_mec, 0)):
        for key, values in info.items():
            if key not in ("unit", "module", "memory_unit"):
                table[key] = np.concatenate([np.full(before, np.nan), values.astype(float), np.full(after, np.nan)])
    return table


# ----------------------------------------------------------------------------- writers
def write_csv(export: Export, out: Path) -> list[Path]:
    """``walk.csv`` (one row per step: step, node, x, y, action, object, mec_0.., hpc_0..),
    ``units.csv`` (:func:`unit_table`; blank = does not apply, flags as 1/0) and ``ratemaps.csv``
    (one row per node: node, x, y, occupancy, mec_0.., hpc_0..; ``nan`` = unvisited)."""
    walk, (n_mec, n_hpc) = export.walk, (export.walk.mec.shape[1], export.walk.hpc.shape[1])
    names = [f"mec_{i}" for i in range(n_mec)] + [f"hpc_{i}" for i in range(n_hpc)]
    position = export.position
    rows = np.column_stack([np.arange(len(walk.node)), walk.node, position, walk.action, walk.obj, walk.mec, walk.hpc])
    fmt = ["%d", "%d", "%.17g", "%.17g", "%d", "%d"] + ["%.9g"] * (n_mec + n_hpc)  # float32 to the last bit
    header = ",".join(["step", "node", "x", "y", "action", "object"] + names)
    np.savetxt(out / "walk.csv", rows, fmt=fmt, delimiter=",", header=header, comments="")
    maps = np.column_stack([np.arange(export.world.n_nodes), export.world.positions, export.maps.occupancy,
                            export.maps.mec.T, export.maps.hippocampus.T])
    np.savetxt(out / "ratemaps.csv", maps, fmt=["%d", "%.17g", "%.17g", "%d"] + ["%.17g"] * (n_mec + n_hpc),
               delimiter=",", header=",".join(["node", "x", "y", "occupancy"] + names), comments="")
    table = unit_table(export)
    with open(out / "units.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table)
        for row in zip(*table.values()):
            writer.writerow([_cell(v.item()) for v in row])
    return [out / "walk.csv", out / "units.csv", out / "ratemaps.csv"]


def _cell(value):
    """A CSV cell: blank for NaN, integral floats (flags, counts) as integers."""
    if isinstance(value, float):
        return "" if np.isnan(value) else int(value) if value.is_integer() else value
    return value


def to_xarray(export: Export):
    """An ``xarray.Dataset``: ``activity (time, unit)`` (MEC then hippocampal units; the columns of
    :func:`unit_table` as ``unit`` coordinates), ``position (time, space)``, ``walk_node``,
    ``action``, ``object (time)``; ``node_rate_map (unit, node)``, ``occupancy (node)``,
    ``node_position (node, space)``; on lattice worlds ``rate_map (unit, y, x)`` and
    ``occupancy_map (y, x)`` (NaN where unvisited). Attributes: the metadata, ``config`` as JSON."""
    import xarray as xr

    walk, world, maps = export.walk, export.world, export.maps
    units = {k: ("unit", v) for k, v in unit_table(export).items()}
    node_maps = np.concatenate([maps.mec, maps.hippocampus])
    data = {"activity": (("time", "unit"), np.concatenate([walk.mec, walk.hpc], axis=1)),
            "position": (("time", "space"), export.position), "walk_node": ("time", walk.node),
            "action": ("time", walk.action), "object": ("time", walk.obj),
            "node_rate_map": (("unit", "node"), node_maps), "occupancy": ("node", maps.occupancy),
            "node_position": (("node", "space"), world.positions)}
    coords = {"time": export.time, "step": ("time", np.arange(len(walk.node))), "space": ["x", "y"],
              "node": np.arange(world.n_nodes), **units}
    if world.lattice is not None:
        x, y, _, _ = position_bins(world.positions)
        data["rate_map"] = (("unit", "y", "x"), grid_maps(node_maps, world.positions))
        data["occupancy_map"] = (("y", "x"), grid_maps(maps.occupancy[None], world.positions)[0])
        coords.update(x=x, y=y)
    attrs = {k: json.dumps(v) if isinstance(v, (dict, list)) or v is None else v for k, v in export.meta.items()}
    return xr.Dataset(data, coords=coords, attrs={**attrs, "time_units": f"s ({DT:g} s per walk step)"})


def write_pynapple(export: Export, out: Path) -> list[Path]:
    """pynapple objects saved with their own ``save`` (read back with ``nap.load_file``):
    ``mec.npz``, ``hpc.npz`` (``TsdFrame (T, n_units)``, unit metadata as column metadata),
    ``position.npz`` (``TsdFrame`` x, y), ``node.npz``, ``action.npz``, ``object.npz`` (``Tsd``),
    ``environment.npz`` (the walk's ``IntervalSet``, with the world's name), ``rate_map_epoch.npz``
    (the second half); and ``ratemaps.npz`` (plain numpy: the rate maps as :func:`to_xarray`)."""
    import pynapple as nap

    walk, t, half = export.walk, export.time, export.meta["rate_map_steps"][0]
    support = nap.IntervalSet(start=t[0], end=t[-1], metadata={"world": [export.world.name]})
    objects = {
        "mec": nap.TsdFrame(t=t, d=walk.mec, time_support=support, metadata=export.mec_info),
        "hpc": nap.TsdFrame(t=t, d=walk.hpc, time_support=support, metadata=export.hpc_info),
        "position": nap.TsdFrame(t=t, d=export.position, columns=["x", "y"], time_support=support),
        "node": nap.Tsd(t=t, d=walk.node, time_support=support),
        "action": nap.Tsd(t=t, d=walk.action, time_support=support),
        "object": nap.Tsd(t=t, d=walk.obj, time_support=support),
        "environment": support,
        "rate_map_epoch": nap.IntervalSet(start=t[half], end=t[-1], metadata={"world": [export.world.name]}),
    }
    for name, obj in objects.items():
        obj.save(str(out / f"{name}.npz"))
    maps = {"mec": export.maps.mec, "hpc": export.maps.hippocampus, "occupancy": export.maps.occupancy,
            "node_position": export.world.positions}
    if export.world.lattice is not None:
        x, y, x_edges, y_edges = position_bins(export.world.positions)
        maps.update(mec_grid=grid_maps(export.maps.mec, export.world.positions), x=x, y=y, x_edges=x_edges,
                    y_edges=y_edges, hpc_grid=grid_maps(export.maps.hippocampus, export.world.positions))
    np.savez(out / "ratemaps.npz", **maps)
    return [out / f"{name}.npz" for name in objects] + [out / "ratemaps.npz"]


def write_nwb(export: Export, path: Path) -> Path:
    """One NWB file. ``processing["behavior"]``: ``Position`` (``SpatialSeries`` "position", x, y)
    and the ``TimeSeries`` "node", "action", "object"; ``processing["cells"]``: ``TimeSeries``
    "mec_activity" ``(T, n_mec)`` and "hpc_activity" ``(T, n_hpc)`` (column k = row k of the
    ``DynamicTable`` "mec_units" / "hpc_units": metadata and ``rate_map (n_nodes,)``) and the
    ``DynamicTable`` "nodes" (x, y, occupancy); ``epochs``: the walk (tagged with the world's name);
    ``TimeIntervals`` "rate_map_epoch": the second half. All series at ``rate = 1 / DT`` from t = 0.
    ``notes``: the metadata and config as JSON."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import Position, SpatialSeries
    from pynwb.epoch import TimeIntervals

    meta, walk, world = export.meta, export.walk, export.world
    nwb = NWBFile(
        session_description=f"{meta['model']} ({meta['memory']} memory) walking {world.name} for "
                            f"{meta['walk_length']} steps (seed {meta['seed']}), one step per {DT:g} s",
        identifier=f"{Path(meta['run']).name}-{world.name.replace(' ', '')}-seed{meta['seed']}-{time.time_ns()}",
        session_start_time=datetime.now(timezone.utc),
        experiment_description="cognitive-map model (TEM / TEM-t) cells on a random walk: MEC (position code) and "
                               "hippocampal (memory) units, exported by tem-cognitive-maps analysis.export",
        notes=json.dumps(meta), source_script="python -m analysis export",
        source_script_file_name="analysis/export.py")
    series = {"rate": 1 / DT, "starting_time": 0.0}
    behavior = nwb.create_processing_module("behavior", "the walk: position, node, action and object per step")
    behavior.add(Position(spatial_series=[SpatialSeries(
        name="position", data=export.position, unit="node spacing", description="(x, y) of the node at each step",
        reference_frame=f"node coordinates of {world.name} (one node spacing = 1)", **series)]))
    actions = ", ".join(f"{i}={a}" for i, a in enumerate(world.action_names))
    for name, data, text in (("node", walk.node, "node of the world at each step"),
                             ("action", walk.action, f"action that led to the node (-1: first step; {actions})"),
                             ("object", walk.obj, "object seen at the node")):
        behavior.add(TimeSeries(name=name, data=data, unit="n/a", description=text, **series))
    _add_cells(nwb.create_processing_module("cells", "model units: activity per step, metadata, rate maps"),
               export, series)
    t, half = export.time, meta["rate_map_steps"][0]
    nwb.add_epoch(start_time=t[0], stop_time=t[-1], tags=[world.name])
    epoch = TimeIntervals(name="rate_map_epoch", description="the steps the rate maps average (second half)")
    epoch.add_interval(start_time=t[half], stop_time=t[-1])
    nwb.add_time_intervals(epoch)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def _add_cells(cells, export: Export, series: dict) -> None:
    """The ``TimeSeries`` of each population's activity, its ``DynamicTable`` of unit metadata and
    rate maps, and the ``DynamicTable`` "nodes", into the NWB processing module ``cells``."""
    from hdmf.common import DynamicTable
    from pynwb import TimeSeries

    for pop, activity, info, maps, text in (
            ("mec", export.walk.mec, export.mec_info, export.maps.mec, "MEC position-code units"),
            ("hpc", export.walk.hpc, export.hpc_info, export.maps.hippocampus, "hippocampal memory units")):
        cells.add(TimeSeries(name=f"{pop}_activity", data=activity, unit="a.u.", **series,
                             description=f"{text}; column k is row k of {pop}_units"))
        table = DynamicTable(name=f"{pop}_units", description=f"{text}: metadata and rate maps",
                             id=np.arange(len(maps)))
        for key, values in {**info, "rate_map": maps}.items():
            table.add_column(key, DESCRIPTIONS.get(key, key), data=values)
        cells.add(table)
    positions = export.world.positions
    nodes = DynamicTable(name="nodes", description="world nodes", id=np.arange(len(positions)))
    for key, values in (("x", positions[:, 0]), ("y", positions[:, 1]), ("occupancy", export.maps.occupancy)):
        nodes.add_column(key, DESCRIPTIONS[key], data=values)
    cells.add(nodes)


DESCRIPTIONS = {
    "unit": "unit index in its population", "module": "MEC module",
    "memory_unit": "memory unit (write step or neuron)",
    "s60": "gridness (60 degrees)", "s90": "square gridness (90 degrees)", "s60_threshold": "95th percentile of s60 "
    "over shuffles", "s90_threshold": "95th percentile of s90 over shuffles", "spacing": "grid spacing (node steps)",
    "orientation": "grid orientation (degrees)", "is_grid": "s60 above its shuffle threshold",
    "grid_cell": "s60 > 0.3 and above its shuffle threshold", "spatial_information": "Skaggs information (bits)",
    "spatial_information_threshold": "95th percentile over time-shift shuffles", "n_fields": "place fields",
    "field_fraction": "fraction of nodes in fields", "is_place": "place unit", "rate_map": "mean activity per node "
    "over the rate-map epoch (NaN: unvisited)", "x": "x (node spacing)", "y": "y (node spacing)",
    "occupancy": "steps at the node in the rate-map epoch"}


def export_run(run_dir, to, format: str, settings: RatemapConfig = RatemapConfig(), *, overwrite: bool = False,
               device: str = "cpu", threads: int | None = 1, progress: bool = True) -> dict:
    """Export the model in ``run_dir`` (see :func:`record_export` for ``settings``) to the folder
    ``to`` in ``format`` (nwb | pynapple | netcdf | csv), with ``export.json`` (the metadata and
    config). ``to`` must not exist or be empty unless ``overwrite``. Returns a summary dict."""
    start = time.perf_counter()
    require(format)
    out = Path(to)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; --to needs a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"{out} exists and is not empty; pass --overwrite (overwrite=True) to write into it")
    export = record_export(run_dir, settings, device=device, threads=threads, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    if format == "csv":
        files = write_csv(export, out)
    elif format == "pynapple":
        files = write_pynapple(export, out)
    elif format == "netcdf":
        files = [out / "walk.nc"]
        to_xarray(export).to_netcdf(files[0], engine="h5netcdf")
    else:
        files = [write_nwb(export, out / "walk.nwb")]
    (out / "export.json").write_text(json.dumps({**export.meta, "format": format}, indent=2))
    return {"format": format, "files": [str(f) for f in files + [out / "export.json"]], "world": export.world.name,
            "walk_length": export.meta["walk_length"], "n_mec_units": export.walk.mec.shape[1],
            "n_hpc_units": export.walk.hpc.shape[1], "seconds": round(time.perf_counter() - start, 2)}
