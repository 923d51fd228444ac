"""Analysis of the probing study's tables: recipe labels, summaries, best transfer, gate pictures (synthetic rows)."""

import math

import pandas as pd
import pytest

from georecall.analyse import probing as pa
from georecall.sweep import tables

BASE = dict(
    source="trained",
    n_subjects=256,
    n_relations=4,
    d_model=16,
    d_mlp=64,
    init_scale=1.0,
    tie_embed=False,
    freeze_unembed=False,
    lr=0.01,
    weight_decay=0.1,
    max_steps=2048,
    early_stop=False,
    seed=0,
    device="cpu",
)


def _points():
    return [
        BASE,
        {**BASE, "seed": 1},
        {**BASE, "weight_decay": 0.0},
        {**BASE, "tie_embed": True},
        {**BASE, "d_mlp": 256},
        {**BASE, "max_steps": 8192},
        {**BASE, "early_stop": True},
        {**BASE, "init_scale": 0.5},
        {**BASE, "weight_decay": 0.5},
        {**BASE, "source": "construction", "d_model": 44},
    ]


def test_recipe_labels_name_the_one_switch():
    labels = list(pa.recipe_labels(pd.DataFrame(_points())))
    assert labels == [
        "core",
        "core",
        "core",
        "tied W_U",
        "d_mlp 256",
        "8192 steps",
        "stop at 99%",
        "init x0.5",
        "wd 0.5",
        "construction",
    ]
    with pytest.raises(ValueError, match="lacks columns"):
        pa.recipe_labels(pd.DataFrame([{"d_model": 4}]))
    with pytest.raises(TypeError, match="DataFrame"):
        pa.recipe_labels([BASE])


def _transfer():
    rows = []
    for seed, a in ((0, 0.1), (1, 0.05)):
        p = {**BASE, "seed": seed}
        for proto, acc in (("superposition", a), ("random", 0.004), ("lookup", 0.25)):
            rows.append({**p, "protocol": proto, "step": 0, "accuracy": acc})
        for step, acc in ((0, 0.0), (500, 0.6)):
            rows.append({**p, "protocol": "trained", "step": step, "accuracy": acc})
            rows.append({**p, "protocol": "random_network", "step": step, "accuracy": acc / 3})
    c = {**BASE, "source": "construction", "d_model": 44}
    rows.append({**c, "protocol": "superposition", "step": 0, "accuracy": 1.0})
    return pd.DataFrame(rows, columns=tables.TRANSFER_COLUMNS)


def test_transfer_finals_summary_and_best():
    wide = pa.transfer_finals(_transfer())
    assert wide.loc[(wide["seed"] == 0) & (wide["source"] == "trained"), "trained"].item() == 0.6
    s = pa.transfer_summary(_transfer())
    core = s[s["recipe"] == "core"].iloc[0]
    assert core["superposition"] == pytest.approx(0.075) and core["superposition_max"] == 0.1 and core["n_seeds"] == 2
    best = pa.best_transfer(_transfer()).set_index("protocol")
    assert best.loc["superposition", "accuracy"] == 0.1 and best.loc["superposition", "seed"] == 0
    assert best.loc["trained", "random_network"] == pytest.approx(0.2) and best.loc["trained", "chance"] == 1 / 256
    with pytest.raises(ValueError, match="no transfer rows"):
        pa.best_transfer(_transfer(), source="untrained")


def test_gate_picture_scales_and_sorts_units():
    rows = []
    acts = {0: (0.0, 2.0), 1: (1.0, 1.0), 2: (4.0, 0.0), 3: (0.0, 0.0)}  # unit -> activation on relations 0, 1
    for j, (a0, a1) in acts.items():
        rows += [{**BASE, "unit": j, "relation": r, "activation": a} for r, a in enumerate((a0, a1))]
    pic = pa.gate_picture(pd.DataFrame(rows), recipe="core")
    assert list(pic.columns) == [2, 1, 0], "dead unit 3 dropped; preferred relation 0 first, most selective first"
    assert pic[2].tolist() == [1.0, 0.0] and pic[1].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="exactly one point"):
        pa.gate_picture(pd.DataFrame(rows), d_model=99)
    with pytest.raises(ValueError, match="unknown column"):
        pa.point_rows(pd.DataFrame(rows), colour="red")


def test_summarise_and_where_facts():
    df = pd.DataFrame([{**p, "superposition_r2": 0.5 + 0.1 * p["seed"]} for p in _points()[:2]])
    s = pa.summarise(df, ["superposition_r2"])
    assert len(s) == 1 and s["superposition_r2"].item() == pytest.approx(0.55) and s["n_seeds"].item() == 2
    assert pa.where_facts(_transfer()).empty
    assert math.isclose(pa.transfer_finals(_transfer())["lookup"].max(), 0.25)
