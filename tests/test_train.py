"""train.py: the smoke run, resume equivalence, determinism, configs and every bad input."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import tem.temt
from tem.training import Run, make_config
from tem.training.cli import build_parser, main as train_main
from tem.training.loop import read_metrics
from tem.training.run import learning_rate

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--batch", "4", "--window", "8", "--walk-length", "24", "--world", "square:4", "--n-objects", "6",
        "--temt.module-sizes", "8", "--temt.sensory-dim", "8", "--temt.key-dim", "8", "--eval-every", "0",
        "--eval.walk-length", "40", "--eval-worlds", "2", "--eval.worlds", "2", "--threads", "1"]


def run_main(tmp_path, *args, name="run"):
    return train_main(TINY + ["--out", str(tmp_path / name), *args])


def weights(directory):
    return torch.load(Path(directory) / "checkpoint.pt", weights_only=True)["model"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_smoke_run_in_subprocess_writes_everything(tmp_path):
    out = tmp_path / "smoke"
    result = subprocess.run([sys.executable, "train.py", *TINY, "--steps", "6", "--eval-every", "3",
                             "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for name in ("checkpoint.pt", "config.json", "metrics.csv", "eval.json", "learning_curve.png"):
        assert (out / name).exists(), name
    summary = json.loads((out / "eval.json").read_text())
    for key in ("link_inference_acc", "node_visited_acc", "first_visit_acc", "edge_visited_agent_acc",
                "node_visited_agent_acc", "world"):
        assert key in summary
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["batch"] == 4 and config["model"]["kind"] == "temt"
    steps = [line.split(",")[0] for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == ["3", "6"]  # the periodic evaluation, then the final one


def test_run_without_analysis_still_records_its_last_step(tmp_path):
    assert run_main(tmp_path, "--steps", "4", "--eval-every", "2", "--no-analysis", name="eval") == 0
    assert run_main(tmp_path, "--steps", "3", "--no-analysis", name="quiet") == 0
    evaluated = read_metrics(tmp_path / "eval" / "metrics.csv")
    assert [row["step"] for row in evaluated] == ["2", "4"] and evaluated[-1]["link_inference_acc"] != ""
    (last,) = read_metrics(tmp_path / "quiet" / "metrics.csv")
    assert last["step"] == "3" and float(last["train_acc"]) >= 0 and last["link_inference_acc"] == ""


def test_interrupted_and_resumed_run_matches_uninterrupted(tmp_path, interrupted):
    assert run_main(tmp_path, "--steps", "9", "--checkpoint-every", "100", "--no-analysis", name="full") == 0
    cut = interrupted(lambda: run_main(tmp_path, "--steps", "9", "--checkpoint-every", "100", "--no-analysis",
                                       name="cut"), step=5)
    assert cut == 130 and torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["step"] == 5
    assert train_main(["--resume", str(tmp_path / "cut"), "--no-analysis"]) == 0
    assert_same_weights(weights(tmp_path / "full"), weights(tmp_path / "cut"))


def test_weight_average_is_the_checkpoints_model_and_its_evaluations(tmp_path):
    """``--weight-average``: the checkpoint's ``model`` (what analysis loads) is the moving average of
    the trained weights, which it keeps as ``trained_model``; evaluations see the average and
    training goes on from the trained weights."""
    run = Run.start({"batch": 4, "window": 8, "walk_length": 24, "world": "square:4", "n_objects": 6,
                     "temt.module_sizes": (8,), "temt.sensory_dim": 8, "temt.key_dim": 8, "threads": 1,
                     "weight_average": 0.5, "out": str(tmp_path / "run")})
    parameters = list(run.model.parameters())
    expected = [p.detach().clone() for p in parameters]
    for step in range(1, 6):
        run.train_step()
        decay = min(0.5, step / (step + 10))
        expected = [decay * e + (1 - decay) * p.detach() for e, p in zip(expected, parameters)]
    trained = [p.detach().clone() for p in parameters]
    saved = run.checkpoint()
    names = [name for name, _ in run.model.named_parameters()]
    for name, average in zip(names, expected):
        torch.testing.assert_close(saved["model"][name], average)
    assert_same_weights(saved["trained_model"], run.model.state_dict())
    assert any(not torch.equal(saved["model"][name], saved["trained_model"][name]) for name in names)
    with run.evaluation_weights() as model:
        for parameter, average in zip(model.parameters(), expected):
            torch.testing.assert_close(parameter.detach(), average)
    for parameter, weights in zip(parameters, trained):
        assert torch.equal(parameter.detach(), weights)
    run.close()


def test_a_run_keeping_a_weight_average_resumes_exactly(tmp_path, interrupted):
    args = ["--steps", "9", "--checkpoint-every", "100", "--no-analysis", "--weight-average", "0.9"]
    assert run_main(tmp_path, *args, name="full") == 0
    assert interrupted(lambda: run_main(tmp_path, *args, name="cut"), step=5) == 130
    assert train_main(["--resume", str(tmp_path / "cut"), "--no-analysis"]) == 0
    full, cut = (torch.load(tmp_path / name / "checkpoint.pt", weights_only=True) for name in ("full", "cut"))
    assert_same_weights(full["model"], cut["model"])
    assert_same_weights(full["trained_model"], cut["trained_model"])


def test_a_tree_run_resumes_exactly_with_its_inference_trail(tmp_path, interrupted):
    """Position inference and its backtracking trail are carried state: an interrupted tree run
    resumes to the weights of an uninterrupted one."""
    args = ("--world", "family-tree:2", "--steps", "6", "--checkpoint-every", "100", "--no-analysis",
            "--eval-every", "0", "--walk-length", "40")
    assert run_main(tmp_path, *args, name="full") == 0
    carried = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["carried_state"]["inference"]
    assert carried["trail_depth"].max() > 0  # the walks hold undoable moves at the cut
    assert interrupted(lambda: run_main(tmp_path, *args, name="cut"), step=3) == 130
    assert train_main(["--resume", str(tmp_path / "cut"), "--no-analysis"]) == 0
    assert_same_weights(weights(tmp_path / "full"), weights(tmp_path / "cut"))


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert run_main(tmp_path, "--steps", "3", "--seed", seed, "--no-analysis", name=name) == 0
    assert_same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))
    assert not torch.equal(weights(tmp_path / "a")["readout.weight"], weights(tmp_path / "c")["readout.weight"])


@pytest.mark.parametrize("args, message", [
    (["--preset", "huge"], "unknown preset"),
    (["--model", "lstm"], "unknown model"),
    (["--memory", "tape"], "unknown memory"),
    (["--world", "cube"], "unknown world"),
    (["--batch", "0"], "batch"),
    (["--lr", "-1"], "lr"),
    (["--temt.action-matrices", "unitary"], "action_matrices"),
    (["--temt.fixed-wavelengths", "--world", "ring"], "fixed_wavelengths"),
    (["--world", "ring+stay"], "grid worlds"),
    (["--tem.g-min", "0"], "TEM option"),
    (["--model", "tem", "--temt.key-dim", "4"], "TEM-t option"),
    (["--sdm.radius", "3"], "option of the sdm memory"),
    (["--memory", "sdm", "--attention.cap", "3"], "option of the attention memory"),
    (["--memory", "hebbian"], "TEM's"),
    (["--model", "tem", "--memory", "attention"], "--memory hebbian"),
    (["--lr-schedule", "step"], "lr_schedule"),
    (["--weight-average", "1"], "weight_average"),
    (["--eval.worlds", "0"], "worlds"),
    (["--device", "tpu"], "device"),
    (["--temt.loop-closure", "always"], "loop_closure"),
    (["--temt.loop-closure", "on", "--world", "ring"], "loop_closure needs a commuting code"),
])
def test_bad_config_exits_with_a_message(tmp_path, capsys, args, message):
    assert run_main(tmp_path, "--steps", "1", *args) == 2
    assert message in capsys.readouterr().err


def test_unparseable_value_is_an_argparse_error(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        run_main(tmp_path, "--batch", "many")
    assert exit_info.value.code == 2


def test_resume_refuses_missing_corrupt_and_mismatched_checkpoints(tmp_path, capsys):
    assert train_main(["--resume", str(tmp_path / "nowhere")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert run_main(tmp_path, "--steps", "2", "--no-analysis") == 0
    assert train_main(["--resume", str(tmp_path / "run"), "--world", "hex"]) == 2
    assert "world" in capsys.readouterr().err
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert train_main(["--resume", str(tmp_path / "run")]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    assert run_main(tmp_path, "--steps", "2", "--no-analysis") == 0
    good = weights(tmp_path / "run")
    monkeypatch.setattr(tem.temt.F, "cross_entropy", lambda logits, target: logits.sum() * float("nan"))
    assert train_main(["--resume", str(tmp_path / "run"), "--steps", "4", "--no-analysis"]) == 3
    assert "nan" in capsys.readouterr().err
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 2
    assert_same_weights(good, checkpoint["model"])


def test_learning_rate_schedule_warms_up_then_decays():
    config = make_config("quick", {"lr": 1e-3, "warmup": 10, "steps": 110, "min_lr_ratio": 0.1})
    rates = [learning_rate(step, config) for step in range(110)]
    assert rates[0] < rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))
    assert rates[-1] == pytest.approx(1e-4, rel=0.01)


# ---- configs ---------------------------------------------------------------------------------


def test_default_steps_and_learning_rate_depend_on_the_world_and_explicit_values_win(tmp_path):
    def resolved(**overrides):
        config = Run(make_config(overrides={"out": str(tmp_path), **overrides})).config
        return config.run.steps, config.optim.lr
    assert make_config().run.steps == 0 and make_config().optim.lr == 0  # "by the world"
    assert resolved() == (400, 2e-3)  # squares: path integration alone
    assert resolved(world="family-tree:2") == (2000, 6e-3)  # a parent merges two children: TEM-t infers
    assert resolved(world="family-tree:2", **{"temt.inference": "off"}) == (400, 2e-3)
    assert resolved(world="family-tree:2", steps=7, lr=1e-3) == (7, 1e-3)
    assert learning_rate(0, Run(make_config(overrides={"out": str(tmp_path), "warmup": 0})).config) == 2e-3
    for field in ("steps", "lr"):
        with pytest.raises(ValueError, match=field):
            make_config(overrides={field: -1})


def test_presets_are_whole_configs_and_model_tem_alone_works():
    grid = make_config("grid-cells")
    assert grid.model.action_matrices == "commuting" and grid.data.world == "hex" and grid.ratemaps.world == "hex:25"
    assert make_config("grid-cells", {"memory": "sdm"}).model.memory.learn_addresses  # the preset's SDM
    assert grid.model.key_dim == 128 and make_config("grid-cells", {"memory": "sdm"}).model.key_dim == 32
    assert make_config("grid-cells", {"memory": "sdm", "temt.key_dim": 64}).model.key_dim == 64
    assert not make_config("quick", {"memory": "sdm"}).model.memory.learn_addresses
    alone = make_config(overrides={"model": "tem"})
    assert alone.model.kind == "tem" and alone.preset == "tem" and alone.memory == "hebbian"
    assert alone.optim.lr_schedule == "exponential" and alone.data.world == "square:5"
    mixed = make_config("quick", {"model": "tem", "tem.eta_ramp": 7})
    assert mixed.model.eta_ramp == 7 and mixed.data.batch == 64  # quick's data, TEM's model


def test_config_json_round_trips_and_unknown_fields_are_named(tmp_path):
    config = make_config("grid-cells", {"memory": "sdm", "sdm.top_k": 8, "eval.worlds": 7, "batch": 3})
    assert type(config).from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="typo"):
        make_config("quick", {"typo": 1})
    with pytest.raises(ValueError, match="temt fields: typo"):
        make_config("quick", {"temt.typo": 1})
    data = config.to_dict()
    data["model"]["memory"]["kind"] = "tape"
    with pytest.raises(ValueError, match="kind"):
        type(config).from_dict(data)


def test_every_field_is_a_flag_with_its_help():
    text = build_parser().format_help()
    for flag in ("--batch", "--lr-half-life", "--temt.key-dim", "--tem.eta-ramp", "--sdm.learn-addresses",
                 "--attention.cap", "--eval.worlds", "--ratemaps.shuffles", "--eval-every", "--resume"):
        assert flag in text, flag
    assert "memory key and query size" in text  # a field's docstring is its help


def test_resume_keeps_the_config_and_takes_overrides(tmp_path):
    assert run_main(tmp_path, "--steps", "2", "--no-analysis", "--seed", "3") == 0
    run = Run.resume(tmp_path / "run", {"steps": 5})
    assert run.step == 2 and run.config.run.steps == 5 and run.config.run.seed == 3 and run.config.data.batch == 4
    with pytest.raises(ValueError, match="model"):
        Run.resume(tmp_path / "run", {"model": "tem"})


def test_a_run_from_before_the_known_place_gate_feature_resumes(tmp_path):
    """Its 2-feature gate weight and the weight's optimizer moments are padded with zeros."""
    assert run_main(tmp_path, "--world", "family-tree:2", "--steps", "2", "--no-analysis", "--eval-every", "0") == 0
    path = tmp_path / "run" / "checkpoint.pt"
    checkpoint = torch.load(path, weights_only=True)
    name = "inference.gate_weight"
    index = [n for n, _ in Run.resume(tmp_path / "run", {}).model.named_parameters()].index(name)
    checkpoint["model"][name] = checkpoint["model"][name][:2]  # as an older version wrote it
    moments = checkpoint["optimizer"]["state"][index]
    for key in ("exp_avg", "exp_avg_sq"):
        moments[key] = moments[key][:2]
    torch.save(checkpoint, path)
    run = Run.resume(tmp_path / "run", {"steps": 3})
    assert run.model.inference.gate_weight.detach()[2] == 0
    assert run.optimizer.state[run.model.inference.gate_weight]["exp_avg"].shape == (3,)
    assert train_main(["--resume", str(tmp_path / "run"), "--steps", "3"]) == 0  # and it trains on


# ---- safe checkpoints ------------------------------------------------------------------------


def test_checkpoints_hold_only_plain_values_and_rebuild_the_model(tmp_path):
    import tem

    assert run_main(tmp_path, "--steps", "2", "--no-analysis") == 0
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert checkpoint["model_kind"] == "temt" and checkpoint["task"]["action_names"] == ["N", "E", "S", "W"]
    model = tem.load_model(tmp_path / "run")
    assert isinstance(model, tem.TEMt) and not model.training and int(model.trained_steps) == 2
    assert model.config.key_dim == 8 and model.task.n_objects == 6


def test_a_checkpoint_holding_other_objects_is_refused(tmp_path, capsys):
    import fractions

    import tem

    assert run_main(tmp_path, "--steps", "1", "--no-analysis") == 0
    path = tmp_path / "run" / "checkpoint.pt"
    torch.save({**torch.load(path, weights_only=True), "extra": fractions.Fraction(1, 3)}, path)
    with pytest.raises(ValueError, match="could run code"):
        tem.load_model(tmp_path / "run")
    assert train_main(["--resume", str(tmp_path / "run")]) == 2
    assert "fractions.Fraction" in capsys.readouterr().err


def old_format(checkpoint: dict, config: dict) -> dict:
    """A checkpoint as main wrote it before format 2: flat config, NumPy sampler state, no record."""
    flat = {"preset": "quick", "model": "temt", "memory": "attention", **config["data"], **config["optim"],
            **config["run"], "module_sizes": [8], "sensory_dim": 8, "key_dim": 8, "beta": 1.0, "log_scale": True,
            "memory_cap": 0, "final_eval_worlds": 2, "eval_walk_length": 40, "lr_schedule": "cosine"}
    weights = {k: v for k, v in checkpoint["model"].items() if k != "trained_steps"}
    carried = {**checkpoint["carried_state"], "memory": {k: v for k, v in checkpoint["carried_state"]["memory"].items()
                                                         if k != "written"}}
    old = {key: checkpoint[key] for key in ("optimizer", "step", "world_size", "torch_rng", "train_seconds", "running")}
    return {**old, "model": weights, "config": flat, "action_names": ["N", "E", "S", "W"], "carried_state": carried,
            "sampler": {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in checkpoint["sampler"].items()}}


def test_old_checkpoints_are_refused_with_the_command_that_upgrades_them(tmp_path, capsys):
    from tem.training.upgrade import main as upgrade_main

    assert run_main(tmp_path, "--steps", "3", "--no-analysis", name="new") == 0
    new = torch.load(tmp_path / "new" / "checkpoint.pt", weights_only=True)
    (tmp_path / "old").mkdir()
    torch.save(old_format(new, json.loads((tmp_path / "new" / "config.json").read_text())),
               tmp_path / "old" / "checkpoint.pt")
    assert train_main(["--resume", str(tmp_path / "old")]) == 2
    assert "python -m tem.training.upgrade" in capsys.readouterr().err
    assert upgrade_main([str(tmp_path / "old")]) == 0
    upgraded = torch.load(tmp_path / "old" / "checkpoint.pt", weights_only=True)
    assert (tmp_path / "old" / "checkpoint.pt.old").exists()
    assert_same_weights(upgraded["model"], new["model"])
    assert upgraded["config"]["model"] == new["config"]["model"] and upgraded["step"] == 3
    assert train_main(["--resume", str(tmp_path / "old"), "--steps", "4", "--no-analysis"]) == 0


def test_the_wheel_installs_no_top_level_train_module():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py-modules" not in project["tool"]["setuptools"]
    assert project["project"]["scripts"] == {"tem-train": "tem.training.cli:main", "tem-analysis": "analysis.__main__:main"}
    assert all(not dep.startswith("ninja") for dep in project["project"]["dependencies"])


def test_train_from_python_returns_the_trained_run(tmp_path):
    import tem

    config = make_config("quick", {"batch": 4, "window": 8, "walk_length": 24, "world": "square:4", "n_objects": 6,
                                   "temt.module_sizes": (8,), "temt.sensory_dim": 8, "temt.key_dim": 8, "steps": 3,
                                   "eval_every": 0, "analysis": False, "threads": 1, "out": str(tmp_path / "nb")})
    run = tem.train(config)
    assert run.step == 3 and int(run.model.trained_steps) == 3 and (tmp_path / "nb" / "checkpoint.pt").exists()
    again = tem.train(Run.resume(tmp_path / "nb", {"steps": 5}))
    assert again.step == 5
