"""analysis.export: the walk and maps are the ratemaps machinery's; every format reads back with its
own library (NWB validates, pynapple's tuning curves are the package's rate maps); bad input is refused."""
import csv
import importlib.util
import json

import numpy as np
import pytest

import analysis.export as export_module
from analysis.__main__ import main as analysis_main
from analysis.config import RatemapConfig
from analysis.maps import default_bin_size
from analysis.export import grid_maps, position_bins, record_export, unit_table, write_csv
from analysis.pipeline import _grid_scores, _place_scores, _scores, _worlds_for, load_run
from analysis.ratemaps import record_walks
from tem.training.cli import main as train_main

TINY = ["--batch", "4", "--window", "8", "--walk-length", "24", "--world", "square:4", "--n-objects", "6",
        "--temt.module-sizes", "8", "--temt.sensory-dim", "8", "--temt.key-dim", "8", "--eval-every", "0",
        "--eval.walk-length", "40", "--eval-worlds", "2", "--eval.worlds", "2", "--steps", "2", "--threads", "1",
        "--no-analysis"]
SETTINGS = RatemapConfig(world="square:6", walk_length=555, units=8, shuffles=5, seed=3)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny trained runs: attention memory (units = memories of places), SDM (a neuron population) and
    one on a line (a world without grid or place scores)."""
    root = tmp_path_factory.mktemp("export")
    extras = {"attention": [], "sdm": ["--memory", "sdm", "--sdm.neurons", "64"], "line": ["--world", "line:6"]}
    for name, extra in extras.items():
        assert train_main(TINY + extra + ["--out", str(root / name)]) == 0
    return root


@pytest.fixture(scope="module")
def export(runs):
    return record_export(runs / "attention", SETTINGS, progress=False)


@pytest.mark.parametrize("memory", ["attention", "sdm"])
def test_walk_maps_and_scores_are_those_of_the_ratemaps_machinery(runs, memory):
    result = record_export(runs / memory, SETTINGS, progress=False)
    model, _ = load_run(runs / memory)
    world = _worlds_for("square:6", model)[0]
    (maps,) = record_walks(model, world, 555, seeds=(3,), n_objects=6, n_hpc_units=8)
    np.testing.assert_array_equal(result.walk.hpc_units, maps.hpc_units)
    for name in ("mec", "hippocampus", "occupancy", "nodes", "hpc_trace"):
        np.testing.assert_allclose(getattr(result.maps, name), getattr(maps, name), rtol=0, atol=1e-12, err_msg=name)
    walk = result.walk
    assert walk.mec.shape == (555, 8) and walk.hpc.shape == (555, 8) and walk.action[0] == -1
    np.testing.assert_array_equal(world.transitions[walk.node[:-1], walk.action[1:]], walk.node[1:])
    scores = _scores(_grid_scores(maps, world, 5, 3, False), _place_scores(maps, world, 5, 3), 5)  # ratemaps.json's (4 digits)
    for info, units in ((result.mec_info, scores["mec_units"]), (result.hpc_info, scores["hpc_units"])):
        for key in units[0]:
            expected = np.array([np.nan if u[key] is None else u[key] for u in units], dtype=float)
            if key == "spacing":  # raster bins -> node steps
                expected = expected * default_bin_size(world.positions)
            np.testing.assert_allclose(info[key].astype(float), expected, atol=6e-5, err_msg=key)


def test_position_bins_give_one_bin_per_node_of_a_square_world(export):
    x, y, x_edges, y_edges = position_bins(export.world.positions)
    assert len(x) == len(y) == 6 and len(x_edges) == len(y_edges) == 7
    raster = grid_maps(export.maps.mec, export.world.positions)
    assert raster.shape == (8, 6, 6)
    ix, iy = np.searchsorted(x, export.world.positions[:, 0]), np.searchsorted(y, export.world.positions[:, 1])
    np.testing.assert_array_equal(raster[:, iy, ix], export.maps.mec)


def read_csv(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_csv_round_trip(export, tmp_path):
    write_csv(export, tmp_path)
    header, rows = read_csv(tmp_path / "walk.csv")
    assert header[:6] == ["step", "node", "x", "y", "action", "object"]
    assert header[6] == "mec_0" and header[-1] == "hpc_7"
    values = np.array(rows, dtype=float)
    np.testing.assert_array_equal(values[:, 1], export.walk.node)
    np.testing.assert_array_equal(values[:, 2:4], export.position)
    np.testing.assert_array_equal(values[:, 4], export.walk.action)
    np.testing.assert_array_equal(values[:, 5], export.walk.obj)
    np.testing.assert_array_equal(values[:, 6:14].astype(np.float32), export.walk.mec)  # float32 to the last bit
    np.testing.assert_array_equal(values[:, 14:].astype(np.float32), export.walk.hpc)
    header, rows = read_csv(tmp_path / "ratemaps.csv")
    maps = np.array(rows, dtype=float)
    np.testing.assert_array_equal(maps[:, 3], export.maps.occupancy)
    np.testing.assert_array_equal(maps[:, 4:12], export.maps.mec.T)
    header, rows = read_csv(tmp_path / "units.csv")
    table = unit_table(export)
    assert header == list(table) and len(rows) == 16
    assert rows[0][:4] == ["mec", "0", "0", "-1"] and rows[8][:2] == ["hpc", "0"]
    s60 = [float(r[header.index("s60")]) if r[header.index("s60")] else np.nan for r in rows]
    np.testing.assert_allclose(s60, table["s60"])
    assert rows[8][header.index("s60")] == "" and rows[0][header.index("is_grid")] in ("0", "1")


def test_netcdf_round_trip(export, tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    export_module.to_xarray(export).to_netcdf(tmp_path / "walk.nc", engine="h5netcdf")
    with xr.open_dataset(tmp_path / "walk.nc", engine="h5netcdf") as ds:
        assert ds.activity.dims == ("time", "unit") and ds.rate_map.dims == ("unit", "y", "x")
        np.testing.assert_array_equal(ds.activity.sel(unit=ds.population == "mec"), export.walk.mec)
        np.testing.assert_array_equal(ds.activity.sel(unit=ds.population == "hpc"), export.walk.hpc)
        np.testing.assert_array_equal(ds.position.sel(space="x"), export.position[:, 0])
        np.testing.assert_array_equal(ds.walk_node, export.walk.node)
        np.testing.assert_array_equal(ds.node_rate_map[:8], export.maps.mec)
        np.testing.assert_array_equal(ds.rate_map[8:], grid_maps(export.maps.hippocampus, export.world.positions))
        np.testing.assert_array_equal(ds.s60[:8], export.mec_info["s60"])
        assert np.isnan(ds.s60[8:]).all() and (ds.module[8:] == -1).all()
        np.testing.assert_array_equal(ds.time, np.arange(555.0))
        assert json.loads(ds.attrs["config"])["data"]["world"] == "square:4" and ds.attrs["world"] == "square 6x6"


def test_nwb_validates_and_round_trips(export, tmp_path):
    pynwb = pytest.importorskip("pynwb")
    path = export_module.write_nwb(export, tmp_path / "walk.nwb")
    assert list(pynwb.validate(path=str(path))) == []
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        position = nwb.processing["behavior"]["Position"]["position"]
        np.testing.assert_array_equal(position.data[:], export.position)
        assert position.rate == 1.0 and position.starting_time == 0.0
        cells = nwb.processing["cells"]
        np.testing.assert_array_equal(cells["mec_activity"].data[:], export.walk.mec)
        np.testing.assert_array_equal(cells["hpc_activity"].data[:], export.walk.hpc)
        np.testing.assert_array_equal(nwb.processing["behavior"]["action"].data[:], export.walk.action)
        units = cells["mec_units"].to_dataframe()
        np.testing.assert_array_equal(units["module"], export.mec_info["module"])
        np.testing.assert_array_equal(units["s60"], export.mec_info["s60"])
        np.testing.assert_array_equal(np.stack(units["rate_map"]), export.maps.mec)
        assert cells["hpc_units"].to_dataframe()["is_place"].dtype == bool
        assert json.loads(nwb.notes)["config"]["model"]["kind"] == "temt"
        assert nwb.intervals["rate_map_epoch"].to_dataframe()["start_time"].item() == 555 // 2
        assert nwb.epochs.to_dataframe()["tags"].item() == ["square 6x6"]


def tuning_curves(nap, activity, position, epoch, world):
    _, _, x_edges, y_edges = position_bins(world.positions)
    curves = nap.compute_tuning_curves(activity, position, bins=[x_edges, y_edges], epochs=epoch)
    x, y = (np.searchsorted(np.asarray(curves[c]), world.positions[:, i]) for i, c in enumerate(("x", "y")))
    return np.asarray(curves)[:, x, y]  # (units, n_nodes) in node order


def test_pynapple_tuning_curves_reproduce_the_rate_maps(export, tmp_path):
    nap = pytest.importorskip("pynapple")
    export_module.write_pynapple(export, tmp_path)
    mec, hpc, position = (nap.load_file(str(tmp_path / f"{n}.npz")) for n in ("mec", "hpc", "position"))
    epoch = nap.load_file(str(tmp_path / "rate_map_epoch.npz"))
    assert epoch.start[0] == 555 // 2 and epoch.end[0] == 554 and epoch.metadata["world"][0] == "square 6x6"
    np.testing.assert_array_equal(mec.values, export.walk.mec)
    np.testing.assert_array_equal(mec.metadata["module"], export.mec_info["module"])
    np.testing.assert_array_equal(hpc.metadata["memory_unit"], export.walk.hpc_units)
    for activity, maps in ((mec, export.maps.mec), (hpc, export.maps.hippocampus)):
        curves = tuning_curves(nap, activity, position, epoch, export.world)
        np.testing.assert_array_equal(np.isnan(curves), np.isnan(maps))
        np.testing.assert_allclose(curves, maps, rtol=0, atol=1e-6)
    saved = np.load(tmp_path / "ratemaps.npz")
    np.testing.assert_array_equal(saved["mec"], export.maps.mec)
    # the NWB file read by pynapple gives the same tuning curves
    export_module.write_nwb(export, tmp_path / "walk.nwb")
    nwb = nap.load_file(str(tmp_path / "walk.nwb"))
    curves = tuning_curves(nap, nwb["mec_activity"], nwb["position"], nwb["rate_map_epoch"], export.world)
    np.testing.assert_allclose(curves, export.maps.mec, rtol=0, atol=1e-6)


def test_a_line_world_exports_maps_without_scores_or_rasters(runs, tmp_path):
    result = record_export(runs / "line", RatemapConfig(walk_length=120, units=4, shuffles=3), progress=False)
    assert set(result.mec_info) == {"unit", "module"} and set(result.hpc_info) == {"unit", "memory_unit"}
    assert result.maps.mec.shape == (8, 6) and result.walk.hpc.shape == (120, 4)
    write_csv(result, tmp_path)
    assert read_csv(tmp_path / "units.csv")[0] == ["population", "index", "module", "memory_unit"]
    if importlib.util.find_spec("xarray"):
        ds = export_module.to_xarray(result)
        assert "rate_map" not in ds and ds.node_rate_map.shape == (12, 6)
    if importlib.util.find_spec("pynwb"):
        import pynwb

        assert list(pynwb.validate(path=str(export_module.write_nwb(result, tmp_path / "walk.nwb")))) == []


def test_cli_exports_csv_and_refuses_bad_input(runs, tmp_path, capsys, monkeypatch):
    run, out = str(runs / "attention"), str(tmp_path / "out")
    args = ["export", run, "--to", out, "--format", "csv", "--world", "square:5", "--walk-length", "120",
            "--units", "4", "--shuffles", "3"]
    assert analysis_main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["world"] == "square 5x5" and printed["walk_length"] == 120 and printed["n_hpc_units"] == 4
    meta = json.loads((tmp_path / "out" / "export.json").read_text())
    assert meta["config"]["data"]["world"] == "square:4" and meta["format"] == "csv"
    assert len((tmp_path / "out" / "walk.csv").read_text().splitlines()) == 121
    assert analysis_main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert analysis_main(args + ["--overwrite"]) == 0
    assert analysis_main(["export", str(tmp_path / "empty"), "--to", str(tmp_path / "x"), "--format", "csv"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as error:
        analysis_main(["export", run, "--to", str(tmp_path / "y"), "--format", "matlab"])
    assert error.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown format"):
        export_module.export_run(run, tmp_path / "y", "matlab")
    find_spec = export_module.importlib.util.find_spec
    monkeypatch.setattr(export_module.importlib.util, "find_spec",
                        lambda name: None if name == "pynwb" else find_spec(name))
    assert analysis_main(["export", run, "--to", str(tmp_path / "z"), "--format", "nwb"]) == 2
    assert 'pip install -e ".[export]"' in capsys.readouterr().err and not (tmp_path / "z").exists()
