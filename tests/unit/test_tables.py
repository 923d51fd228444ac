"""The table registry: every committed table registered once, atomic writes in the registered format, checked loads."""

import pandas as pd
import pytest

from georecall.sweep import presets, tables


def _dense_rows():
    return pd.DataFrame(
        {
            "N": [256],
            "R": [2],
            "k": [16],
            "d_model": [24],
            "d_subject": [6],
            "accuracy": [0.09765625],
            "min_margin": [-2.0629123456],
            "n_facts": [512],
            "gate": [3.8446612],
        }
    )


def test_write_uses_the_registered_columns_and_float_format(tmp_path):
    df = _dense_rows().assign(extra=1)[["extra", *reversed(tables.DENSE_COLUMNS)]]  # any order, extra columns
    path = tables.write_table("dense_accuracy", df, tmp_path)
    assert path == tmp_path / "dense_accuracy.csv"
    assert path.read_text().splitlines() == [
        ",".join(tables.DENSE_COLUMNS),
        "256,2,16,24,6,0.0976562,-2.06291,512,3.84466",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["dense_accuracy.csv"], "a temporary file was left behind"
    back = tables.load_table("dense_accuracy", tmp_path)
    assert list(back.columns) == list(tables.DENSE_COLUMNS) and back.loc[0, "n_facts"] == 512


def test_a_failed_write_leaves_the_old_table_and_no_temporary_file(tmp_path):
    tables.write_table("dense_accuracy", _dense_rows(), tmp_path)
    before = (tmp_path / "dense_accuracy.csv").read_bytes()
    with pytest.raises(ValueError, match="lacks columns"):
        tables.write_table("dense_accuracy", _dense_rows().drop(columns="gate"), tmp_path)
    assert (tmp_path / "dense_accuracy.csv").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["dense_accuracy.csv"]


def test_unknown_names_and_wrong_columns_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown table 'e9'"):
        tables.write_table("e9", _dense_rows(), tmp_path)
    (tmp_path / "dense_accuracy.csv").write_text("N,R\n1,2\n")
    with pytest.raises(ValueError, match="expected"):
        tables.load_table("dense_accuracy", tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m georecall table e1_capacity"):
        tables.load_table("e1_capacity", tmp_path)


def test_every_preset_experiment_is_a_registered_sweep_table():
    for name in presets.PRESETS:
        for e in presets.preset(name).experiments:
            assert tables.spec(e.name).kind == tables.SWEEP, f"{name}/{e.name} is not a registered sweep table"
    book = {e.name for e in presets.preset("book").experiments}
    assert set(tables.BOOK_SWEEP_TABLES) == book
    assert all(tables.spec(n).preset == "book" for n in tables.BOOK_SWEEP_TABLES)
    every = {e.name for name in ("book", "disjoint", "multihop", "sentences") for e in presets.preset(name).experiments}
    studies = set(tables.PROBING_TABLES) | set(tables.CROSSSET_TABLES) | set(tables.LAYERS_TABLES)
    assert set(tables.SWEEP_TABLES) == every | studies
    assert {e.name for e in presets.preset("probing").experiments} == {"probing"} <= set(tables.PROBING_TABLES)
    assert {e.name for e in presets.preset("crossset").experiments} == {"crossset"} <= set(tables.CROSSSET_TABLES)
    assert {e.name for e in presets.preset("layers").experiments} == {"layers"} <= set(tables.LAYERS_TABLES)


def test_load_tables_reads_only_registered_tables(tmp_path):
    tables.write_table("dense_accuracy", _dense_rows(), tmp_path)
    (tmp_path / "notes.csv").write_text("a\n1\n")
    assert list(tables.load_tables(tmp_path)) == ["dense_accuracy"]
