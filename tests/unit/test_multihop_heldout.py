"""Held-out chains: the split (every first-hop group keeps a training query, so every single hop is seen), the
training data (single hops supervised at position 1 in both formats, no held-out query trained on), the config's
checks, and one tiny point per format: scored on the unseen queries only, deterministic, with chance 1/N."""

import dataclasses

import pandas as pd
import pytest
import torch

from georecall import repro
from georecall.model import multihop
from georecall.run import heldout
from georecall.sweep.multihop import HeldOutChains, held_out_points
from georecall.tasks import bijection as tasks


@pytest.fixture(autouse=True)
def _one_thread():
    with repro.torch_threads(1):
        yield


@pytest.mark.parametrize("N, R, h, f", [(8, 2, 2, 0.5), (8, 3, 2, 0.9), (4, 2, 3, 0.3), (16, 2, 2, 0.75)])
def test_split_partitions_the_queries_and_keeps_every_first_hop(N, R, h, f):
    task = tasks.make_task(N, R, seed=1)
    tr, ho = heldout.split_chains(task, h, f, seed=3)
    n = N * R**h
    assert len(ho) == round((1 - f) * n) and len(tr) + len(ho) == n
    assert torch.equal(torch.sort(torch.cat([tr, ho])).values, torch.arange(n))
    assert set((tr // R ** (h - 1)).tolist()) == set(range(N * R)), "a first-hop group lost every training query"
    again = heldout.split_chains(task, h, f, seed=3)
    assert torch.equal(again[1], ho)
    assert not torch.equal(heldout.split_chains(task, h, f, seed=4)[1], ho), "the split must depend on the seed"


def test_training_data_supervises_single_hops_and_omits_held_out_queries():
    task = tasks.make_task(8, 2, seed=0)
    tr, ho = heldout.split_chains(task, 2, 0.5, seed=0)
    x, p = multihop.queries(task, 2, tr)
    ys = multihop.chain(task, x, p)
    no = heldout.held_out_facts(task, 2, "no_cot", tr)
    assert torch.equal(no.targets[:, 1], ys[:, 0]) and torch.equal(no.targets[:, 2], ys[:, 1])
    assert (no.targets[:, 0] == tasks.IGNORE).all() and no.tokens.shape == (len(tr), 3)
    cot = heldout.held_out_facts(task, 2, "cot", tr)
    assert torch.equal(cot.targets[:, 1], ys[:, 0]) and torch.equal(cot.targets[:, 3], ys[:, 1])
    # every single hop (e, r) -> pi_r(e) is a target at position 1 of some training sequence
    firsts = {(int(a), int(b) - 8, int(c)) for a, b, c in zip(no.tokens[:, 0], no.tokens[:, 1], no.targets[:, 1])}
    assert firsts == {(e, r, int(task.perms[r, e])) for e in range(8) for r in range(2)}
    held_tokens = {tuple(t) for t in multihop.no_cot_facts(task, 2, ho).tokens.tolist()}
    assert not held_tokens & {tuple(t) for t in no.tokens.tolist()}


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(train_fraction=0.4), "train_fraction"),  # below 1/R^(h-1) = 0.5
        (dict(train_fraction=1.0), "train_fraction"),
        (dict(train_fraction=0.999), "holds out no query"),
        (dict(hops=1), "hops"),
        (dict(data_format="noisy"), "data_format"),
        (dict(d_model=3), "d_model must be a multiple of n_heads = 2"),
        (dict(n_subjects=1), "n_subjects"),
        (dict(seed=-1), "seed"),
        (dict(weight_decay=-0.1), "weight_decay"),
        (dict(early_stop=1), "early_stop"),
    ],
)
def test_bad_points_name_the_parameter(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        HeldOutChains(**{**dict(n_subjects=8, n_relations=2, hops=2, d_model=8), **kw})


@pytest.mark.parametrize("fmt", ["no_cot", "cot"])
def test_a_tiny_point_scores_only_unseen_queries_and_is_deterministic(fmt):
    cfg = HeldOutChains(
        n_subjects=8, n_relations=2, hops=2, data_format=fmt, d_model=16, train_fraction=0.5, lr=1e-2, max_steps=512
    )
    result, model = heldout.train_held_out(cfg)
    task = tasks.make_task(8, 2, seed=0)
    tr, ho = heldout.split_chains(task, 2, 0.5, seed=0)
    assert result.heldout_index == tuple(ho.tolist()) and result.n_heldout == 16 and result.n_train == 16
    ev = multihop.evaluate_multihop(model, task, 2, fmt=fmt, index=ho)
    assert result.heldout_accuracy == ev.accuracy and result.heldout_min_margin == ev.min_margin
    assert result.train_accuracy == multihop.evaluate_multihop(model, task, 2, fmt=fmt, index=tr).accuracy
    assert result.reached_target and result.train_accuracy == 1.0 and result.single_hop_accuracy == 1.0
    assert result.chance == 1 / 8 and 0.0 <= result.last_hop_seen <= 1.0
    again, _ = heldout.train_held_out(cfg)
    assert again == result  # wall time excluded from equality
    row = heldout.result_row(result)
    assert row["train_fraction"] == 0.5 and row["heldout_accuracy"] == result.heldout_accuracy and "seconds" not in row
    other, _ = heldout.train_held_out(dataclasses.replace(cfg, seed=1))
    assert other.heldout_index != result.heldout_index


def test_the_study_grid_and_training_past_memorisation():
    pts = held_out_points(9, h=2, seeds=(0, 1, 2))
    assert len(pts) == 12 and {p.train_fraction for p in pts} == {0.5, 0.9}
    assert {(p.data_format, p.d_model, p.n_heads) for p in pts} == {("no_cot", 8, 2), ("cot", 9, 1)}
    cfg = HeldOutChains(n_subjects=8, hops=2, d_model=8, lr=1e-2, max_steps=96, eval_every=32, early_stop=False)
    result, _ = heldout.train_held_out(cfg)
    assert result.steps == 96, "early_stop=False trains every step past the target"


def test_the_sweep_runs_held_out_points_through_the_cache_into_their_table(tmp_path):
    """An experiment of held-out points trains each once, stores its row in the cache (read back, not retrained, on
    the next run: the same table) and writes the ``multihop_heldout`` table in its columns, one row per point."""
    from georecall.run import runner
    from georecall.sweep import tables
    from georecall.sweep.configs import Experiment

    points = tuple(
        HeldOutChains(n_subjects=8, n_relations=2, hops=2, data_format=fmt, d_model=8, max_steps=64, seed=0)
        for fmt in ("no_cot", "cot")
    )
    exp = Experiment(name="multihop_heldout", description="two tiny points", points=points)
    assert exp.heldout and not exp.crossset and not exp.probing
    first = runner.run_experiments([exp], cache=tmp_path, progress=False)["multihop_heldout"]
    assert list(first.columns) == list(tables.spec("multihop_heldout").columns) and len(first) == 2
    assert set(first.data_format) == {"no_cot", "cot"} and (first.chance == 1 / 8).all()
    assert (first.n_train + first.n_heldout == 8 * 2**2).all()
    stored = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    again = runner.run_experiments([exp], cache=tmp_path, progress=False)["multihop_heldout"]
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == stored, "the second run must only read the cache"
    pd.testing.assert_frame_equal(first, again)
    direct = heldout.result_row(heldout.train_held_out(points[0])[0])
    row = first[first.data_format == "no_cot"].iloc[0]
    assert row.heldout_accuracy == pytest.approx(direct["heldout_accuracy"]) and row.steps == direct["steps"]
