"""The one registry of committed tables: each table's name, columns and number format, and atomic write and load.

A committed table is a CSV ``<data_dir>/<name>.csv`` that a chapter reads (the book passes its ``_data``
folder; the library holds no book path). Two kinds:

- **sweep** tables, one per experiment of a sweep preset (``e1_capacity``, ``e2_frozen``, ``e2_learned`` of
  ``book``; ``disjoint_dstar``, ``disjoint_frozen`` of ``disjoint``, which add the columns ``n_answers``,
  ``n_heads`` and ``batch_size``): one row per trained point, deterministic columns only (no wall times),
  ``%.9g`` floats; the probing study's experiment writes three (``probing``, ``transfer``, ``gates``;
  :mod:`georecall.run.study`);
- the **multi-hop** d* table (``multihop``, from the ``multihop`` preset; ``multihop_smoke``, CI's small check of
  the ``smoke`` preset, is never committed): one row per trained multi-hop point, with hops, heads, decoded and
  teacher-forced accuracy;
- the **sentence** d* table (``sentences``, from the ``sentences`` preset): one row per trained sentence-format
  point, with the layer count, the task's template knobs, training recall and the held-out and inverse recalls;
- the **dense** accuracy-vs-d table of the dense construction (``dense_accuracy``), ``%.6g`` floats.

Every table is written the same way: to a uniquely named temporary file in the target folder, then
``os.replace``-d into place, so a reader never sees half a table and two writers never share a temporary file.
``python -m georecall table NAME --out DIR`` regenerates one (:mod:`georecall.run.runner` computes it).
Nothing here imports torch.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._checks import check_columns
from .columns import (  # re-exported: the tables' columns are read as tables.<NAME>
    CROSSSET_COLUMNS,
    CROSSSET_GATES_COLUMNS,
    CROSSSET_POINT_COLUMNS,
    DENSE_COLUMNS,
    DISJOINT_COLUMNS,
    GATES_COLUMNS,
    HELDOUT_COLUMNS,
    HELDOUT_POINT_COLUMNS,
    LAYER_ABLATION_COLUMNS,
    LAYER_PROBES_COLUMNS,
    LAYERS_COLUMNS,
    LAYERS_POINT_COLUMNS,
    MULTIHOP_COLUMNS,
    POINT_COLUMNS,
    PROBE_FIELDS,
    PROBING_COLUMNS,
    SENTENCE_COLUMNS,
    SWEEP_COLUMNS,
    TRANSFER_COLUMNS,
)
from .files import NotRegularFileError, atomic_write, read_regular

__all__ = [
    "TableSpec",
    "TABLES",
    "SWEEP",
    "DENSE",
    "SWEEP_COLUMNS",
    "DISJOINT_COLUMNS",
    "MULTIHOP_COLUMNS",
    "SENTENCE_COLUMNS",
    "SWEEP_TABLES",
    "BOOK_SWEEP_TABLES",
    "PROBING_TABLES",
    "CROSSSET_TABLES",
    "NOT_ONE_ROW_PER_POINT",
    "CROSSSET_COLUMNS",
    "CROSSSET_POINT_COLUMNS",
    "LAYERS_TABLES",
    "LAYERS_POINT_COLUMNS",
    "LAYERS_COLUMNS",
    "POINT_COLUMNS",
    "PROBE_FIELDS",
    "spec",
    "write_table",
    "write_tables",
    "load_table",
    "load_tables",
    "mark_non_finite",
    "PROBING_COLUMNS",
    "TRANSFER_COLUMNS",
    "GATES_COLUMNS",
    "CROSSSET_GATES_COLUMNS",
    "LAYER_PROBES_COLUMNS",
    "LAYER_ABLATION_COLUMNS",
    "HELDOUT_POINT_COLUMNS",
    "HELDOUT_COLUMNS",
    "DENSE_COLUMNS",
]

SWEEP, DENSE = "sweep", "dense"  # how a table is produced: a sweep experiment, or the dense construction's scan


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    """How one committed table is laid out and produced."""

    name: str
    description: str
    kind: str  # SWEEP (an experiment of ``preset``) or DENSE
    columns: tuple[str, ...]  # the columns written, in this order
    float_format: str  # printf format of floats in the CSV
    preset: str | None = None  # SWEEP: the preset whose experiment ``experiment`` produces the table
    experiment: str | None = None  # SWEEP: that experiment's name (default: the table's own name)

    def __post_init__(self) -> None:
        if self.kind not in (SWEEP, DENSE):
            raise ValueError(f"kind must be {SWEEP!r} or {DENSE!r}, got {self.kind!r}")
        if (self.kind == SWEEP) != (self.preset is not None):
            raise ValueError(f"table {self.name!r}: a preset is required for sweep tables and only for them")


def _sweep(name: str, description: str, *, preset: str = "book", columns=SWEEP_COLUMNS) -> TableSpec:
    return TableSpec(
        name=name, description=description, kind=SWEEP, columns=columns, float_format="%.9g", preset=preset
    )


def _study(study: str):
    """The spec maker of a study whose one experiment (named as the preset) writes several tables."""

    def make(name: str, description: str, columns: tuple[str, ...], float_format: str = "%.9g") -> TableSpec:
        return TableSpec(
            name=name,
            description=description,
            kind=SWEEP,
            columns=columns,
            float_format=float_format,
            preset=study,
            experiment=study,
        )

    return make


_probing, _crossset, _layers = _study("probing"), _study("crossset"), _study("layers")


TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        _probing("probing", "Chapter 4: every probe on each point of the probing study", PROBING_COLUMNS),
        _probing("transfer", "Chapter 5: transfer accuracy per point, protocol and step", TRANSFER_COLUMNS),
        _probing("gates", "Chapter 4: mean unit activation per relation (core, seed 0)", GATES_COLUMNS, "%.6g"),
        _crossset(
            "crossset",
            "Chapters 4 and 5: networks trained across K fact sets, zero-shot transfer and probes",
            CROSSSET_COLUMNS,
        ),
        _crossset(
            "crossset_gates",
            "Chapter 4: mean unit activation per relation of cross-set networks (d = 44; run.crossset.keeps_gates)",
            CROSSSET_GATES_COLUMNS,
            "%.6g",
        ),
        _sweep(
            "e1_capacity",
            "Chapter 3: d* search with learned embeddings (lines along d, 3 seeds, best of 3 learning rates per seed)",
        ),
        _sweep("e2_frozen", "Chapter 3: capacity search with frozen embeddings (lines along N)"),
        _sweep("e2_learned", "Chapter 3: learned embeddings at the frozen control's shapes, along N"),
        _sweep(
            "disjoint_dstar",
            "Appendix: d* of learned models on disjoint attribute sets, against R log2 D and S (3 seeds)",
            preset="disjoint",
            columns=DISJOINT_COLUMNS,
        ),
        _sweep(
            "disjoint_frozen",
            "Appendix: frozen-embedding capacity on disjoint sets (noisy and [s, r]), budget and batch checks",
            preset="disjoint",
            columns=DISJOINT_COLUMNS,
        ),
        _sweep(
            "multihop",
            "Chapter 6: d* of trained models on h-hop queries, without and with CoT (N = 64 and along N to 1024)",
            preset="multihop",
            columns=MULTIHOP_COLUMNS,
        ),
        _sweep(
            "multihop_heldout",
            "Chapter 6: held-out chains: trained on part of the 2-hop queries, scored on the unseen ones",
            preset="multihop",
            columns=HELDOUT_COLUMNS,
        ),
        _sweep(
            "multihop_smoke",
            "CI only (not committed): small multi-hop d* lines of the smoke preset",
            preset="smoke",
            columns=MULTIHOP_COLUMNS,
        ),
        _sweep(
            "sentences",
            "Chapter 7: d* of L-layer models (L in {1, 2, 4}) on facts written as sentences, recall at the answer",
            preset="sentences",
            columns=SENTENCE_COLUMNS,
        ),
        TableSpec(
            name="dense_accuracy",
            description="Chapter 2: the dense construction's accuracy against d",
            kind=DENSE,
            columns=DENSE_COLUMNS,
            float_format="%.6g",
        ),
    )
}
TABLES.update(
    (t.name, t)
    for t in (
        _layers("layers", "Beyond one layer: models of L layers on fact sentences, recall per split", LAYERS_COLUMNS),
        _layers(
            "layer_probes",
            "Beyond one layer: superposition R^2 and decoder accuracy per layer, token and control",
            LAYER_PROBES_COLUMNS,
        ),
        _layers(
            "layer_ablation",
            "Beyond one layer: recall with one block's attention or MLP mean-ablated",
            LAYER_ABLATION_COLUMNS,
        ),
    )
)
SWEEP_TABLES = tuple(name for name, t in TABLES.items() if t.kind == SWEEP and t.preset != "smoke")  # committed ones
BOOK_SWEEP_TABLES = tuple(name for name in SWEEP_TABLES if TABLES[name].preset == "book")  # the book preset's
PROBING_TABLES = tuple(name for name, t in TABLES.items() if t.preset == "probing")  # the probing study's tables
CROSSSET_TABLES = tuple(name for name, t in TABLES.items() if t.preset == "crossset")  # the cross-set study's
NOT_ONE_ROW_PER_POINT = ("transfer", "gates", "crossset_gates")  # rows per protocol and step, or per unit
LAYERS_TABLES = tuple(name for name, t in TABLES.items() if t.preset == "layers")  # the layers study's
NOT_ONE_ROW_PER_POINT += ("layer_probes", "layer_ablation")  # rows per layer, token, metric and control or component


def spec(name: str) -> TableSpec:
    """The registered table ``name``; ``ValueError`` naming the registered tables otherwise."""
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; registered tables: {sorted(TABLES)}")
    return TABLES[name]


def mark_non_finite(df: pd.DataFrame, metrics: Sequence[str] = ("accuracy",)) -> pd.DataFrame:
    """``df`` with ``failed`` set (``"<metric> is not finite"``) in every row whose metric is NaN or infinite and
    whose ``failed`` cell is empty, so no such row passes for a scored point; ``df`` itself when it has no
    ``failed`` column or no such row."""
    cols = [m for m in metrics if m in df.columns]
    if "failed" not in df.columns or not cols:
        return df
    failed = df["failed"]
    empty = failed.isna() | (failed.astype(str) == "")
    bad = pd.Series("", index=df.index, dtype=object)
    for m in cols:
        values = pd.to_numeric(df[m], errors="coerce").astype(float)
        hit = empty & ~np.isfinite(values.to_numpy()) & (bad == "")
        bad[hit] = f"{m} is not finite"
    if not (bad != "").any():
        return df
    return df.assign(failed=failed.astype(object).where(bad == "", bad))


def write_table(name: str, df: pd.DataFrame, out_dir: str | os.PathLike) -> Path:
    """Write ``df`` as ``<out_dir>/<name>.csv`` in the registered columns and float format, atomically (a
    uniquely named temporary file in ``out_dir``, given the mode the umask allows like cache entries, then
    ``os.replace``). Returns the path."""
    t = spec(name)
    check_columns(f"table {name!r}", df, t.columns)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.csv"
    df = mark_non_finite(df)
    text = df[list(t.columns)].to_csv(index=False, float_format=t.float_format, lineterminator="\n")
    atomic_write(path, text.encode())
    return path


def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: str | os.PathLike) -> list[Path]:
    """:func:`write_table` for every ``{name: DataFrame}``; returns the paths in order."""
    return [write_table(name, df, out_dir) for name, df in tables.items()]


MAX_TABLE_BYTES = 256 * 2**20  # the most bytes load_table reads (the committed tables hold a few MB at most)


def load_table(name: str, data_dir: str | os.PathLike) -> pd.DataFrame:
    """Read the committed table ``<data_dir>/<name>.csv``; ``ValueError`` if its columns are not the registered ones,
    or if it is not a regular file (a FIFO, a device, a symlink) or holds more than ``MAX_TABLE_BYTES``: the read
    never blocks and is bounded."""
    t = spec(name)
    path = Path(data_dir) / f"{name}.csv"
    if not path.exists() and not path.is_symlink():
        raise FileNotFoundError(f"no table {path}; produce it with `python -m georecall table {name} --out {data_dir}`")
    try:
        data = read_regular(path, MAX_TABLE_BYTES)
    except NotRegularFileError as err:
        raise ValueError(f"table {name!r}: {err}") from None
    df = pd.read_csv(io.BytesIO(data))
    if tuple(df.columns) != t.columns:
        raise ValueError(f"{path} has columns {list(df.columns)}, expected {list(t.columns)}")
    return df


def load_tables(data_dir: str | os.PathLike, names: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """``{name: DataFrame}`` of the committed tables ``names`` (default: every registered table in ``data_dir``)."""
    if names is None:
        names = [n for n in TABLES if (Path(data_dir) / f"{n}.csv").exists()]
    return {name: load_table(name, data_dir) for name in names}
