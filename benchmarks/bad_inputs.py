"""A careless user's sweep: about two hundred bad inputs to every public entry, the CLI and the cache, classified.

Each case is one call with one bad argument and the name its error should mention. A case is

- ``clear``: a ValueError/TypeError whose message names the parameter (or the file, for the cache);
- ``unclear``: an exception that does not name it, or of another type (a raw torch/index error);
- ``silent``: no error at all (a wrong result would follow);
- ``traceback``: a CLI mistake that did not end as one line with exit status 2.

Cache cases write a hostile entry file and expect ``load`` to return None with one ``CacheWarning`` naming the file;
anything raised out of the cache counts as ``unclear`` (``n/a``: the case cannot be built against this library).

    .venv/bin/python benchmarks/bad_inputs.py [--verbose]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from georecall import __main__ as cli
from georecall import repro
from georecall.construct import bijection as constructions
from georecall.model import recall
from georecall.model import transformer as models
from georecall.run import runner
from georecall.sweep import cache, tables
from georecall.sweep import configs as sweeps
from georecall.tasks import bijection as tasks
from georecall.train import batched, recipe
from georecall.train import loop as train

TASK = tasks.make_task(8, 2, seed=0)
DATA = TASK.single_hop()
NOISY = tasks.noisy_sequences(TASK, seq_len=6, seed=0)
INT_BAD = [True, 2.5, "8", None, np.float64(3.0)]
BOOL_BAD = ["no", 1, 0, None, "False"]
FLOAT_BAD = [math.inf, math.nan, "0.1", True, None]
SEED_BAD = [-1, 1.5, True, 2**64]


def _model(**kw):
    return models.Transformer(models.ModelConfig.for_task(DATA, 8, **kw))


def config_cases() -> list[tuple[str, object, str]]:
    """Every field of every config with values of the wrong type or out of range."""
    cases = []

    def field_cases(cls, name, bads, **base):
        for bad in bads:
            cases.append((f"{cls.__name__}({name}={bad!r})", lambda cls=cls, b=bad: cls(**base, **{name: b}), name))

    for name in ("n_subjects", "n_relations"):
        field_cases(tasks.TaskConfig, name, INT_BAD + [0, -3])
    field_cases(tasks.TaskConfig, "seed", SEED_BAD)
    for name in ("d_vocab", "d_vocab_out", "n_ctx", "d_model", "n_heads", "d_mlp"):
        field_cases(models.ModelConfig, name, INT_BAD + [0])
    for name in ("freeze_embed", "tie_embed"):
        field_cases(models.ModelConfig, name, BOOL_BAD)
    field_cases(models.ModelConfig, "init_seed", SEED_BAD)
    for name in ("lr", "weight_decay", "target_accuracy"):
        field_cases(recipe.TrainConfig, name, FLOAT_BAD + [-0.5])
    for name in ("max_steps", "full_batch_max", "batch_size", "eval_every"):
        field_cases(recipe.TrainConfig, name, [True, 2.5, 0, None])
    field_cases(recipe.TrainConfig, "data_seed", SEED_BAD)
    for name in ("n_subjects", "d_model", "d_mlp", "noisy_copies", "max_steps"):
        field_cases(sweeps.RunConfig, name, [True, 2.5, 0])
    field_cases(sweeps.RunConfig, "freeze_embed", BOOL_BAD[:3])
    field_cases(sweeps.RunConfig, "lr", [math.inf, math.nan, 0.0, "0.01"])
    field_cases(sweeps.RunConfig, "weight_decay", [math.nan, -1.0])
    field_cases(sweeps.RunConfig, "seed", SEED_BAD)
    field_cases(sweeps.RunConfig, "data_format", ["cot", 3])
    field_cases(sweeps.RunConfig, "device", ["tpu", "CUDA"])
    return cases


def call_cases() -> list[tuple[str, object, str]]:
    m, noisy_m = _model(), models.Transformer(models.ModelConfig.for_task(NOISY, 8))
    t = DATA.tokens
    fs = lambda **kw: tasks.FactSet(  # noqa: E731
        kw.pop("tokens", t), kw.pop("targets", DATA.targets), kw.pop("d_vocab", 10), kw.pop("d_vocab_out", 8), **kw
    )
    return [
        ("FactSet negative token", lambda: fs(tokens=t - 1), "tokens"),
        ("FactSet token >= d_vocab", lambda: fs(d_vocab=4), "tokens"),
        ("FactSet float tokens", lambda: fs(tokens=t.float()), "tokens"),
        ("FactSet target too large", lambda: fs(targets=DATA.targets + 8), "targets"),
        ("FactSet target -5", lambda: fs(targets=DATA.targets - 4), "targets"),
        ("FactSet shape mismatch", lambda: fs(targets=DATA.targets[:2]), "targets"),
        ("forward negative id", lambda: m(torch.tensor([[-1, 9]])), "tokens"),
        ("forward id = d_vocab", lambda: m(torch.tensor([[0, 10]])), "tokens"),
        ("forward float tokens", lambda: m(t.float()), "tokens"),
        ("forward int8 negative", lambda: m(torch.tensor([[-2, 9]], dtype=torch.int8)), "tokens"),
        ("forward 1-D", lambda: m(t[:, 0]), "tokens"),
        ("forward 3-D", lambda: m(t[None]), "tokens"),
        ("forward T > n_ctx", lambda: m(torch.zeros(2, 5, dtype=torch.long)), "tokens"),
        ("forward T = 0", lambda: m(torch.zeros(2, 0, dtype=torch.long)), "tokens"),
        ("forward a list", lambda: m(t.tolist()), "tokens"),
        ("forward bool", lambda: m(t > 3), "tokens"),
        ("evaluate chunk 0", lambda: train.evaluate(m, DATA, chunk_size=0), "chunk_size"),
        ("evaluate chunk -1", lambda: train.evaluate(m, DATA, chunk_size=-1), "chunk_size"),
        ("evaluate chunk 2.5", lambda: train.evaluate(m, DATA, chunk_size=2.5), "chunk_size"),
        ("evaluate noisy model on [s, r]", lambda: train.evaluate(noisy_m, DATA), "format"),
        ("evaluate [s, r] model on noisy", lambda: train.evaluate(m, NOISY), "format"),
        ("evaluate tokens not FactSet", lambda: train.evaluate(m, t), "data"),
        ("train lr-less config dict", lambda: train.train(m, DATA, {"lr": 1.0}, progress=False), "config"),
        ("train noisy model on [s, r]", lambda: train.train(noisy_m, DATA, progress=False), "format"),
        ("train progress 'no'", lambda: train.train(m, DATA, progress="no"), "progress"),
        ("fit d 0", lambda: train.fit(TASK, 0), "d_model"),
        ("fit freeze 'no'", lambda: train.fit(TASK, 4, freeze_embed="no"), "freeze_embed"),
        ("train_batched empty", lambda: batched.train_batched([], DATA), "models"),
        ("train_batched noisy model", lambda: batched.train_batched([noisy_m], DATA), "format"),
        ("train_batched resample 3", lambda: batched.train_batched([m], DATA, resample=3), "resample"),
        ("train_batched progress 'y'", lambda: batched.train_batched([m], DATA, progress="y"), "progress"),
        ("evaluate_recall chunk 0", lambda: recall.evaluate_recall(m, TASK, chunk_size=0), "chunk_size"),
        ("evaluate_recall facts -1", lambda: recall.evaluate_recall(m, TASK, facts=[-1]), "facts"),
        ("evaluate_recall facts 0.5", lambda: recall.evaluate_recall(m, TASK, facts=[0.5]), "facts"),
        ("evaluate_recall method", lambda: recall.evaluate_recall(m, TASK, method="dense"), "method"),
        ("evaluate_recall workers", lambda: recall.evaluate_recall(m, TASK, method="fused", workers=0), "workers"),
        ("evaluate_recall noisy model", lambda: recall.evaluate_recall(noisy_m, TASK), "format"),
        ("evaluate_recall noisy data", lambda: recall.evaluate_recall(m, NOISY), "format"),
        ("evaluate_recall max_bytes 0", lambda: recall.evaluate_recall(m, TASK, max_bytes=0), "max_bytes"),
        ("noisy_sequences seed -7", lambda: tasks.noisy_sequences(TASK, seed=-7), "seed"),
        ("noisy_sequences seq_len 2", lambda: tasks.noisy_sequences(TASK, seq_len=2), "seq_len"),
        ("noisy_sequences copies 0", lambda: tasks.noisy_sequences(TASK, copies=0), "copies"),
        ("answer subject -1", lambda: TASK.answer(torch.tensor([-1]), torch.tensor([0])), "subject"),
        ("answer relation 5", lambda: TASK.answer(torch.tensor([0]), torch.tensor([5])), "relation"),
        ("generator seed -1", lambda: repro.generator(-1, "x"), "seed"),
        ("seed_everything -1", lambda: repro.seed_everything(-1), "seed"),
        ("build_block k 0", lambda: constructions.build_block(TASK, k=0), "k"),
        ("run only string typo", lambda: runner.run("smoke", only="e1_capacty"), "only"),
        ("run workers 0", lambda: runner.run("smoke", workers=0), "workers"),
        ("run device tpu", lambda: runner.run("smoke", device="tpu"), "device"),
        ("run dask no port", lambda: runner.run("smoke", dask="localhost"), "dask"),
        ("run preset typo", lambda: runner.run("smok"), "preset"),
        ("make_table typo", lambda: runner.make_table("e1"), "table"),
        ("Cache('')", lambda: cache.Cache(""), "cache root"),
        ("write_table typo", lambda: tables.write_table("e1", None, "/tmp"), "table"),
    ]


def cli_cases(tmp: Path) -> list[tuple[str, list[str], str]]:
    f = tmp / "a-file"
    f.write_text("x")
    out = ["--out", str(tmp / "out")]
    cases = [
        ("--workers 0", ["sweep", "smoke", "--workers", "0", *out], "--workers"),
        ("--workers -2", ["sweep", "smoke", "--workers", "-2", *out], "--workers"),
        ("--workers two", ["sweep", "smoke", "--workers", "two", *out], "--workers"),
        ("--only nope", ["sweep", "smoke", "--only", "nope", *out], "--only"),
        ("--device cuda", ["sweep", "smoke", "--device", "cuda", *out], "cuda"),
        ("--device gpu", ["sweep", "smoke", "--device", "gpu", *out], "--device"),
        ("--dask localhost", ["sweep", "smoke", "--dask", "localhost", *out], "--dask"),
        ("--dask 8786", ["sweep", "smoke", "--dask", "8786", *out], "--dask"),
        ("--cache-dir ''", ["sweep", "smoke", "--cache-dir", "", *out], "--cache-dir"),
        ("--out ''", ["sweep", "smoke", "--out", ""], "--out"),
        ("--out /dev/null", ["sweep", "smoke", "--out", "/dev/null"], "--out"),
        ("--out a file", ["sweep", "smoke", "--out", str(f)], "--out"),
        ("table --out under a file", ["table", "dense_accuracy", "--out", str(f / "x.csv")], "--out"),
        ("table unknown", ["table", "e9", *out], "e9"),
        ("table without --out", ["table", "dense_accuracy"], "--out"),
        ("preset typo", ["sweep", "smok", *out], "smok"),
        ("no command", [], "command"),
    ]
    if torch.cuda.is_available():
        cases = [c for c in cases if c[0] != "--device cuda"]
    return cases


def hostile_cache_cases() -> dict[str, object]:
    def edit(fn, sign=False):
        def apply(j: Path):
            meta = json.loads(j.read_text())
            fn(meta)
            if sign:
                meta["checksum"] = cache._checksum(meta)
            j.write_text(json.dumps(meta))

        return apply

    return {
        "edited value": edit(lambda m: m["scalars"].update(accuracy=1.0)),
        "1e999 text": lambda j: j.write_text(j.read_text().replace('"accuracy": 0.5', '"accuracy": 1e999')),
        "wrong type, re-signed": edit(lambda m: m["scalars"].update(accuracy="high"), sign=True),
        "empty scalars, re-signed": edit(lambda m: m.update(scalars={}), sign=True),
        "5000 digits": lambda j: j.write_text('{"a": ' + "9" * 5000 + "}"),
        "100000-deep": lambda j: j.write_text("[" * 100_000 + "]" * 100_000),
        "names = 5, re-signed": edit(lambda m: m["arrays"].update(names=5), sign=True),
        "not JSON": lambda j: j.write_text("{"),
        "binary": lambda j: j.write_bytes(bytes(range(256))),
        "folder": lambda j: (j.unlink(), j.mkdir()),
        "17 MiB": lambda j: j.write_bytes(b" " * (17 * 2**20)),
        "NaN": lambda j: j.write_text('{"schema": NaN}'),
        "truncated": lambda j: j.write_text(j.read_text()[:40]),
        "older version": edit(lambda m: m.update(cache_version=1), sign=True),
    }


EXPECT = {"accuracy": float}


def classify_call(call, name) -> tuple[str, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except (ValueError, TypeError) as err:
        return ("clear" if name in str(err) else "unclear"), f"{type(err).__name__}: {err}"
    except Exception as err:  # noqa: BLE001 - any other error is what this sweep looks for
        return "unclear", f"{type(err).__name__}: {err}"
    return "silent", "no error"


def classify_cli(argv, name) -> tuple[str, str]:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            cli.main(argv)
    except SystemExit as exit_:
        text = err.getvalue().strip().splitlines()
        ok = exit_.code == 2 and text and "error:" in text[-1] and "Traceback" not in err.getvalue()
        return ("clear" if ok and name in text[-1] else "unclear" if ok else "traceback"), (text or [""])[-1]
    except BaseException as exc:  # noqa: BLE001 - an exception escaping main() is a traceback for the user
        return "traceback", f"{type(exc).__name__}: {exc}"
    return "silent", "ran"


def classify_cache(tmp: Path, label: str, damage) -> tuple[str, str]:
    cfg = {"case": label}
    store = cache.Cache(tmp / "cache")
    store.store(cfg, cache.Artifact(scalars={"accuracy": 0.5}))
    json_path, _ = store.paths(cache.config_key(cfg))
    try:
        damage(json_path)
    except Exception as err:  # noqa: BLE001 - e.g. an older library without a checksum to re-sign
        return "n/a", f"could not build the case ({type(err).__name__}: {err})"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            art = cache.Cache(tmp / "cache").load(cfg, expect=EXPECT)
        except BaseException as err:  # noqa: BLE001
            return "unclear", f"raised {type(err).__name__}: {err}"
    named = [w for w in caught if str(json_path) in str(w.message)]
    if art is not None:
        return "silent", f"loaded {art.scalars}"
    return ("clear" if len(named) == 1 else "unclear"), (str(named[0].message) if named else "no warning")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", action="store_true", help="print every case, not only the failures")
    args = parser.parse_args()
    repro.seed_everything(0)
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for label, call, name in config_cases() + call_cases():
            results.append(("api", label, *classify_call(call, name)))
        for label, argv, name in cli_cases(tmp):
            results.append(("cli", label, *classify_cli(argv, name)))
        for label, damage in hostile_cache_cases().items():
            results.append(("cache", label, *classify_cache(tmp, label, damage)))
    for kind, label, verdict, detail in results:
        if args.verbose or verdict != "clear":
            print(f"{verdict:9s} {kind:5s} {label}: {detail[:160]}")
    counts = Counter(verdict for _, _, verdict, _ in results)
    by_kind = Counter(kind for kind, *_ in results)
    print(
        json.dumps(
            {
                "tried": len(results),
                **{k: counts.get(k, 0) for k in ("clear", "unclear", "silent", "traceback", "n/a")},
                "by_kind": dict(by_kind),
            }
        )
    )


if __name__ == "__main__":
    main()
