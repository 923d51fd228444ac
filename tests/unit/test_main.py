"""The command line: `--help` lists presets and tables; `table` writes through the registry; the old alias works."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from georecall import __main__ as cli
from georecall import presets, runner, tables

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


def test_old_sweeps_entry_point_is_an_alias():
    env = {**os.environ, "PYTHONPATH": str(LIB)}
    out = subprocess.run(
        [sys.executable, "-m", "georecall.sweeps", "--help"], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "usage: python -m georecall sweep" in out.stdout and "dense_accuracy" in out.stdout
