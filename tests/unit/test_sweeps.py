"""Sweep declarations: run configs, threshold lines, presets and the line search's bookkeeping."""

import dataclasses
import itertools

import pytest

from georecall.sweep import configs as sweeps
from georecall.sweep import presets, search
from georecall.sweep import probing as presets_probing
from georecall.train import loop as train


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("n_subjects", -64, "n_subjects"),
        ("n_subjects", 1, "n_subjects"),
        ("n_relations", 0, "n_relations"),
        ("d_model", -4, "d_model"),
        ("d_mlp", 0, "d_mlp"),
        ("data_format", "chain", "data_format"),
        ("lr", -1e-3, "lr"),
        ("max_steps", 0, "max_steps"),
        ("seed", -1, "seed"),
        ("device", "tpu", "device"),
        ("target_accuracy", 1.5, "target_accuracy"),
    ],
)
def test_bad_configs_fail_with_the_parameter_named(field, value, match):
    with pytest.raises(ValueError, match=match):
        sweeps.RunConfig(**{field: value})


def test_bad_line_grid_fails_fast():
    with pytest.raises(ValueError, match="d_model"):
        search.Line(base=sweeps.RunConfig(), grid=(-2, 4, 8))
    with pytest.raises(ValueError, match="increasing"):
        search.Line(base=sweeps.RunConfig(), grid=(8, 4))
    with pytest.raises(ValueError, match="start"):
        search.Line(base=sweeps.RunConfig(), grid=(4, 8), start=2)


def test_group_key_ignores_seed_and_lr_only():
    a = sweeps.RunConfig()
    assert a.group_key() == dataclasses.replace(a, seed=3, lr=3e-3).group_key()
    assert a.group_key() != dataclasses.replace(a, d_model=8).group_key()


def test_with_axis_keeps_mlp_ratio():
    c = sweeps.RunConfig().with_axis("d_model", 12)
    assert (c.d_model, c.d_mlp) == (12, 48)


@pytest.mark.parametrize("name", ["smoke", "book", "disjoint", "probing", "multihop", "paper"])
def test_presets_build_and_move_device(name):
    p = presets.preset(name, device="cuda")
    configs = [c for e in p.experiments for c in e.points] + [line.base for e in p.experiments for line in e.lines]
    # cross-set points stay on the CPU (their trainer runs there), everything else moves
    assert configs and all(c.device == ("cpu" if hasattr(c, "parameterization") else "cuda") for c in configs)


SMOKE_ONLY = {"multihop_smoke"}  # CI's small multi-hop lines: a pipeline check, smaller than any committed line


def test_smoke_lines_are_book_lines():
    """Overlap by construction: every smoke line is a line of the preset that commits its table (book, disjoint),
    except the multi-hop pipeline check."""
    book = {e.name: set(e.lines) for name in ("book", "disjoint") for e in presets.preset(name).experiments}
    assert SMOKE_ONLY <= {e.name for e in presets.preset("smoke").experiments}
    for e in presets.preset("smoke").experiments:
        if e.name in SMOKE_ONLY:
            continue
        assert set(e.lines) <= book.get(e.name, set()), f"smoke {e.name} has lines the book preset lacks"


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset"):
        presets.preset("huge")


GRID = tuple(range(10))


@pytest.mark.parametrize("increases", [True, False])
@pytest.mark.parametrize("threshold, start", list(itertools.product(range(11), (0, 4, 9))))
def test_line_search_finds_the_boundary(threshold, start, increases):
    """Against an exact monotone oracle the walk + bisection finds the boundary for every start."""
    grid = tuple(g + 2 for g in GRID)  # d values 2..11; the oracle works on indices
    line = search.Line(base=sweeps.RunConfig(), axis="d_model", grid=grid, start=start, success_increases=increases)
    st = search.LineState(line)
    ok = (lambda i: i >= threshold) if increases else (lambda i: i < threshold)
    index, probes = start, 0
    while index is not None:
        st.results[index] = ok(index)
        probes += 1
        index = st.next_index(index)
    assert probes <= 6, "the search should need about log2(grid) probes"
    if increases:
        good = [i for i, v in st.results.items() if v]
        found = min(good) if good else len(GRID)
        assert found == threshold
    else:
        bad = [i for i, v in st.results.items() if not v]
        found = min(bad) if bad else len(GRID)
        assert found == threshold


def test_run_config_takes_the_book_recipe():
    """RunConfig's recipe fields default to train.BOOK_RECIPE, and train_config() hands them to the trainer."""
    c = sweeps.RunConfig(seed=7)
    assert c.train_config() == dataclasses.replace(train.BOOK_RECIPE, data_seed=7)
    fast = dataclasses.replace(c, lr=3e-3, max_steps=64).train_config()
    assert (fast.lr, fast.max_steps, fast.data_seed) == (3e-3, 64, 7)
    assert c.n_params_nonembed == 4 * 16 * 16 + 2 * 16 * 64 + 64


@pytest.mark.parametrize(
    "kw, err, match",
    [
        ({"init_scale": 0.0}, ValueError, "init_scale"),
        ({"init_scale": 1}, ValueError, "init_scale"),
        ({"tie_embed": True, "freeze_unembed": True}, ValueError, "tie_embed"),
        ({"early_stop": "no"}, TypeError, "early_stop"),
        ({"freeze_unembed": 1}, TypeError, "freeze_unembed"),
    ],
)
def test_bad_model_switches_fail_with_the_parameter_named(kw, err, match):
    with pytest.raises(err, match=match):
        sweeps.RunConfig(**kw)


def test_run_config_passes_switches_to_model_and_recipe():
    c = sweeps.RunConfig(init_scale=0.5, freeze_unembed=True, early_stop=False, seed=5)
    assert c.model_kwargs()["init_scale"] == 0.5 and c.model_kwargs()["freeze_unembed"] is True
    assert c.model_kwargs()["init_seed"] == 5 and c.train_config().early_stop is False
    assert c.group_key() != dataclasses.replace(c, init_scale=1.0).group_key()


def _probe_point(**kw):
    run = sweeps.RunConfig(n_subjects=16, n_relations=2, d_model=14, d_mlp=16)
    return presets_probing.ProbePoint(run=run, **kw)


def test_probe_point_keys_and_validation():
    p = _probe_point()
    assert p.key() != p.run.key() and p.key() == _probe_point().key()
    assert p.group_key() == dataclasses.replace(p, run=dataclasses.replace(p.run, seed=2)).group_key()
    assert p.group_key() != dataclasses.replace(p, source="untrained").group_key()
    _probe_point(source="construction")  # d = R k + R + k = 14, m = 2 R k = 16 at N = 16, R = 2
    with pytest.raises(ValueError, match="construction"):
        presets_probing.ProbePoint(run=dataclasses.replace(p.run, d_model=12), source="construction")
    with pytest.raises(ValueError, match="source"):
        _probe_point(source="hand-built")
    with pytest.raises(ValueError, match="single_hop"):
        presets_probing.ProbePoint(run=dataclasses.replace(p.run, data_format="noisy"))
    with pytest.raises(ValueError, match="transfer_steps"):
        _probe_point(transfer_steps=0, where_facts=True)
    with pytest.raises(TypeError, match="RunConfig"):
        presets_probing.ProbePoint(run={"n_subjects": 16})
    with pytest.raises(TypeError, match="points must be of one kind"):
        sweeps.Experiment(name="x", description="", points=(p, p.run))


def test_probe_points_move_to_a_device():
    exp = sweeps.Experiment(name="probing", description="", points=(_probe_point(),))
    moved = sweeps.Preset(name="p", description="", experiments=(exp,)).with_device("cuda")
    assert moved.experiments[0].points[0].run.device == "cuda" and moved.experiments[0].probing


def test_probing_preset_grid():
    pts = presets.probing_points()
    core = presets.probing_points("core")
    d_star = presets_probing.PROBE_D_STAR
    assert {p.run.d_model for p in core} == {d_star, int(1.5 * d_star), 2 * d_star, 4 * d_star, 44}
    by_recipe = {}
    for p in core:
        by_recipe.setdefault((p.run.d_model, p.run.weight_decay), set()).add(p.run.seed)
    assert all(len(s) >= 2 for s in by_recipe.values()), "the core grid needs at least two seeds per recipe"
    assert {p.source for p in pts} == set(presets_probing.SOURCES)
    assert all(not p.run.early_stop for p in core), "core points train past 99%"
    assert len({p.key() for p in pts}) == len(pts)
    smoke = next(e for e in presets.preset("smoke").experiments if e.name == "probing")
    assert {p.key() for p in smoke.points} <= {p.key() for p in pts}, "smoke probing points must be book points"
    with pytest.raises(ValueError, match="part"):
        presets.probing_points("some")


def test_line_rates_and_stage_configs():
    base = sweeps.RunConfig(n_subjects=64, n_relations=2)
    line = search.Line(base=base, seeds=(0, 1, 2), grid=(2, 4, 8), lrs=(1e-2, 3e-2, 3e-3))
    assert line.rates == (1e-2, 3e-2, 3e-3)
    stage = line.stage_configs(1, 2, seeds=(2, 0))
    assert [(c.seed, c.lr, c.d_model, c.d_mlp) for c in stage] == [(0, 3e-3, 4, 16), (2, 3e-3, 4, 16)]
    assert len({c.group_key() for c in stage}) == 1, "one stage is one stack"
    assert len(line.configs_at(0)) == 9 and len({c.key() for c in line.configs_at(0)}) == 9
    assert search.Line(base=base).rates == (base.lr,), "no lrs: the base config's rate alone"
    with pytest.raises(ValueError, match="stage"):
        line.stage_configs(0, 3)
    with pytest.raises(ValueError, match="seeds"):
        line.stage_configs(0, 0, seeds=(5,))


@pytest.mark.parametrize("lrs, match", [((1e-2, 1e-2), "distinct"), ((0.0,), "lr"), ([1e-2], "tuple")])
def test_bad_line_rates_fail(lrs, match):
    with pytest.raises(ValueError, match=match):
        search.Line(base=sweeps.RunConfig(), lrs=lrs)


def test_probe_verdict_stops_at_a_majority_and_retries_failing_seeds():
    line = search.Line(base=sweeps.RunConfig(), seeds=(0, 1, 2), lrs=(1e-2, 3e-2, 3e-3))
    assert line.probe_verdict({0: True, 1: True, 2: False}, 0) == (True, ())
    assert line.probe_verdict({0: True, 1: False, 2: False}, 0) == (None, (1, 2))
    assert line.probe_verdict({0: True, 1: False, 2: False}, 2) == (False, ())
    with pytest.raises(ValueError, match="seeds"):
        line.probe_verdict({0: True}, 0)


@pytest.mark.parametrize("trial", range(200))
def test_trying_rates_in_turn_gives_the_best_of_all_rates_verdict(trial):
    """Escalation (failing seeds only, while the verdict is open) decides as if every seed tried every rate."""
    import random

    rng = random.Random(trial)
    n_seeds, n_rates = rng.choice([(2, 3), (3, 3), (5, 3), (3, 2), (3, 1)])
    line = search.Line(
        base=sweeps.RunConfig(), seeds=tuple(range(n_seeds)), lrs=tuple(10.0 ** -(1 + r) for r in range(n_rates))
    )
    hit = {(s, r): rng.random() < 0.4 for s in range(n_seeds) for r in range(n_rates)}
    full = sum(any(hit[s, r] for r in range(n_rates)) for s in range(n_seeds)) > sweeps.MAJORITY * n_seeds
    ok, seeds, stage, tried = {s: False for s in range(n_seeds)}, line.seeds, 0, 0
    while True:
        for s in seeds:
            ok[s] |= hit[s, stage]
            tried += 1
        verdict, seeds = line.probe_verdict(ok, stage)
        if verdict is not None:
            break
        stage += 1
    assert verdict == full
    assert tried <= n_seeds * n_rates
