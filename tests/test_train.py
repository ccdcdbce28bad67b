"""train.py: the smoke run, resume equivalence, determinism and every bad input."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import tem.temt
import train

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--batch", "4", "--window", "8", "--walk-length", "24", "--world", "square:4", "--n-objects", "6",
        "--module-sizes", "8", "--sensory-dim", "8", "--key-dim", "8", "--eval-every", "0",
        "--eval-walk-length", "40", "--eval-worlds", "2", "--final-eval-worlds", "2", "--threads", "1"]


def run_main(tmp_path, *args, name="run"):
    return train.main(TINY + ["--out", str(tmp_path / name), *args])


def weights(directory):
    return torch.load(Path(directory) / "checkpoint.pt", weights_only=False)["model"]


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
    assert json.loads((out / "config.json").read_text())["batch"] == 4
    steps = [line.split(",")[0] for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == ["3", "6"]  # the periodic evaluation, then the final one


def test_run_without_analysis_still_records_its_last_step(tmp_path):
    assert run_main(tmp_path, "--steps", "4", "--eval-every", "2", "--no-analysis", name="eval") == 0
    assert run_main(tmp_path, "--steps", "3", "--no-analysis", name="quiet") == 0
    evaluated = train.read_metrics(tmp_path / "eval" / "metrics.csv")
    assert [row["step"] for row in evaluated] == ["2", "4"] and evaluated[-1]["link_inference_acc"] != ""
    (last,) = train.read_metrics(tmp_path / "quiet" / "metrics.csv")
    assert last["step"] == "3" and float(last["train_acc"]) >= 0 and last["link_inference_acc"] == ""


def test_interrupted_and_resumed_run_matches_uninterrupted(tmp_path, monkeypatch):
    assert run_main(tmp_path, "--steps", "9", "--checkpoint-every", "100", "--no-analysis", name="full") == 0
    original = train.Run.train_step

    def interrupt_at_step_5(self):
        if self.step == 5:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(train.Run, "train_step", interrupt_at_step_5)
    assert run_main(tmp_path, "--steps", "9", "--checkpoint-every", "100", "--no-analysis", name="cut") == 130
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["step"] == 5
    monkeypatch.setattr(train.Run, "train_step", original)
    assert train.main(["--resume", str(tmp_path / "cut"), "--no-analysis"]) == 0
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
    (["--action-matrices", "unitary"], "action_matrices"),
    (["--fixed-wavelengths"], "fixed_wavelengths"),
    (["--world", "ring+stay"], "grid worlds"),
    (["--tem-nonneg-g"], "TEM option"),
    (["--device", "tpu"], "device"),
])
def test_bad_config_exits_with_a_message(tmp_path, capsys, args, message):
    assert run_main(tmp_path, "--steps", "1", *args) == 2
    assert message in capsys.readouterr().err


def test_unparseable_value_is_an_argparse_error(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        run_main(tmp_path, "--batch", "many")
    assert exit_info.value.code == 2


def test_resume_refuses_missing_corrupt_and_mismatched_checkpoints(tmp_path, capsys):
    assert train.main(["--resume", str(tmp_path / "nowhere")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert run_main(tmp_path, "--steps", "2", "--no-analysis") == 0
    assert train.main(["--resume", str(tmp_path / "run"), "--world", "hex"]) == 2
    assert "world" in capsys.readouterr().err
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert train.main(["--resume", str(tmp_path / "run")]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    assert run_main(tmp_path, "--steps", "2", "--no-analysis") == 0
    good = weights(tmp_path / "run")
    monkeypatch.setattr(tem.temt.F, "cross_entropy", lambda *a, **k: torch.tensor(float("nan")))
    assert train.main(["--resume", str(tmp_path / "run"), "--steps", "4", "--no-analysis"]) == 3
    assert "nan" in capsys.readouterr().err
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert checkpoint["step"] == 2
    assert_same_weights(good, checkpoint["model"])


def test_learning_rate_schedule_warms_up_then_decays():
    config = train.make_config({"lr": 1e-3, "warmup": 10, "steps": 110, "min_lr_ratio": 0.1})
    rates = [train.learning_rate(step, config) for step in range(110)]
    assert rates[0] < rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))
    assert rates[-1] == pytest.approx(1e-4, rel=0.01)
