"""Sweep declarations: run configs, threshold lines, presets and the line search's bookkeeping."""

import dataclasses
import itertools

import pytest

from georecall import presets, sweeps, train


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
        sweeps.Line(base=sweeps.RunConfig(), grid=(-2, 4, 8))
    with pytest.raises(ValueError, match="increasing"):
        sweeps.Line(base=sweeps.RunConfig(), grid=(8, 4))
    with pytest.raises(ValueError, match="start"):
        sweeps.Line(base=sweeps.RunConfig(), grid=(4, 8), start=2)


def test_group_key_ignores_seed_and_lr_only():
    a = sweeps.RunConfig()
    assert a.group_key() == dataclasses.replace(a, seed=3, lr=3e-3).group_key()
    assert a.group_key() != dataclasses.replace(a, d_model=8).group_key()


def test_with_axis_keeps_mlp_ratio():
    c = sweeps.RunConfig().with_axis("d_model", 12)
    assert (c.d_model, c.d_mlp) == (12, 48)


@pytest.mark.parametrize("name", ["smoke", "book", "disjoint", "multihop", "paper"])
def test_presets_build_and_move_device(name):
    p = presets.preset(name, device="cuda")
    configs = [c for e in p.experiments for c in e.points] + [line.base for e in p.experiments for line in e.lines]
    assert configs and all(c.device == "cuda" for c in configs)


SMOKE_ONLY = {"multihop_smoke"}  # CI's small multi-hop lines: a pipeline check, smaller than any committed line


def test_smoke_lines_are_book_lines():
    """Overlap by construction: every smoke line is a line of the preset that commits its table (book, disjoint),
    except the multi-hop pipeline check."""
    book = {e.name: set(e.lines) for name in ("book", "disjoint") for e in presets.preset(name).experiments}
    assert SMOKE_ONLY <= {e.name for e in presets.preset("smoke").experiments}
    for e in presets.preset("smoke").experiments:
        if e.name in SMOKE_ONLY:
            continue
        assert set(e.lines) <= book[e.name], f"smoke {e.name} has lines the book preset lacks"


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset"):
        presets.preset("huge")


GRID = tuple(range(10))


@pytest.mark.parametrize("increases", [True, False])
@pytest.mark.parametrize("threshold, start", list(itertools.product(range(11), (0, 4, 9))))
def test_line_search_finds_the_boundary(threshold, start, increases):
    """Against an exact monotone oracle the walk + bisection finds the boundary for every start."""
    grid = tuple(g + 2 for g in GRID)  # d values 2..11; the oracle works on indices
    line = sweeps.Line(base=sweeps.RunConfig(), axis="d_model", grid=grid, start=start, success_increases=increases)
    st = sweeps.LineState(line)
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
