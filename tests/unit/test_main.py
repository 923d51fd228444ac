"""The command line: `--help` lists presets and tables; `table` writes through the registry."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from georecall import __main__ as cli
from georecall.run import runner
from georecall.sweep import cache as cache_mod
from georecall.sweep import presets, tables

LIB = Path(__file__).resolve().parents[2] / "lib"


def test_help_lists_every_preset_and_table(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in [*presets.PRESETS, *tables.TABLES]:
        assert f"  {name} " in out, f"{name} missing from --help"


def test_unknown_table_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["table", "e9", "--out", "x"])
    assert exit_.value.code == 2 and "invalid choice: 'e9'" in capsys.readouterr().err


def test_table_command_writes_the_registered_table(tmp_path, monkeypatch, capsys):
    rows = pd.DataFrame({c: [1] for c in tables.DENSE_COLUMNS}).assign(accuracy=0.5)
    seen = {}

    def fake_make_table(name, **kwargs):
        seen[name] = kwargs
        return rows

    monkeypatch.setattr(runner, "make_table", fake_make_table)
    assert cli.main(["table", "dense_accuracy", "--out", str(tmp_path), "--no-cache", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == [str(tmp_path / "dense_accuracy.csv")]
    assert seen["dense_accuracy"]["use_cache"] is False and seen["dense_accuracy"]["progress"] is False
    assert tables.load_table("dense_accuracy", tmp_path)["accuracy"].tolist() == [0.5]


# --- ordinary mistakes: one line on stderr, exit status 2, no traceback, nothing trained -------------------------


def _mistakes(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    out = ["--out", str(tmp_path / "out")]
    cases = {
        "--workers 0": (["sweep", "smoke", "--workers", "0", *out], "--workers"),
        "--workers x": (["sweep", "smoke", "--workers", "x", *out], "--workers"),
        "--only nope": (["sweep", "smoke", "--only", "nope", *out], "--only"),
        "--dask without a port": (["sweep", "smoke", "--dask", "localhost", *out], "--dask"),
        "--cache-dir ''": (["sweep", "smoke", "--cache-dir", "", *out], "--cache-dir"),
        "--out ''": (["sweep", "smoke", "--out", ""], "--out"),
        "--out a file": (["sweep", "smoke", "--out", str(a_file)], "--out"),
        "--out under a file": (["table", "dense_accuracy", "--out", str(a_file / "x.csv")], "--out"),
        "unknown preset": (["sweep", "nope", *out], "preset"),
    }
    if not torch.cuda.is_available():
        cases["--device cuda without CUDA"] = (["sweep", "smoke", "--device", "cuda", *out], "CUDA")
    return cases


def test_ordinary_mistakes_exit_2_with_one_line_and_train_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "run", lambda *a, **k: pytest.fail("nothing may run after a usage mistake"))
    monkeypatch.setattr(runner, "make_table", lambda *a, **k: pytest.fail("nothing may run after a usage mistake"))
    for label, (argv, name) in _mistakes(tmp_path).items():
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        err = capsys.readouterr().err
        last = err.strip().splitlines()[-1]
        assert exit_.value.code == 2, label
        assert "error:" in last and name in last and "Traceback" not in err, f"{label}: {err}"


def test_errors_after_parsing_are_one_line_too(tmp_path, monkeypatch, capsys):
    def unreachable(*a, **k):
        raise ValueError("dask: cannot reach the scheduler at 'tcp://10.0.0.9:8786' (timed out)")

    monkeypatch.setattr(runner, "run", unreachable)
    assert cli.main(["sweep", "smoke", "--out", str(tmp_path), "--no-cache", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: dask: cannot reach" in err


def test_a_read_only_cache_is_announced_before_any_work(tmp_path, monkeypatch, capsys):
    events = []

    def read_only_prepare(self):
        events.append("prepare")
        self.read_only = True
        return False

    monkeypatch.setattr(cache_mod.Cache, "prepare", read_only_prepare)
    monkeypatch.setattr(runner, "run", lambda *a, **k: events.append("run") or {})
    cli.main(["sweep", "smoke", "--out", str(tmp_path / "o"), "--cache-dir", str(tmp_path / "c"), "--quiet"])
    assert events == ["prepare", "run"]
    assert "not writable" in capsys.readouterr().err


def test_a_mistake_in_a_real_process_prints_no_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(LIB)}
    out = subprocess.run(
        [sys.executable, "-m", "georecall", "sweep", "smoke", "--workers", "0", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("python -m georecall sweep: error: argument --workers")
