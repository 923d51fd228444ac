"""The artifact cache: stable keys, atomic writes, and every damaged or stale entry recomputed, never loaded."""

import json
import os
from dataclasses import dataclass, replace

import numpy as np
import pytest

import georecall
from georecall import cache


@dataclass(frozen=True, kw_only=True)
class Cfg:
    n: int = 3
    lr: float = 0.01
    name: str = "a"


def _compute_counter():
    calls = []

    def compute(c: Cfg) -> cache.Artifact:
        calls.append(c)
        return cache.Artifact(scalars={"n": c.n, "value": 1.5 * c.n}, arrays={"x": np.arange(c.n, dtype=np.float64)})

    return compute, calls


def test_key_is_stable_and_field_sensitive():
    base = Cfg()
    assert cache.config_key(base) == cache.config_key(Cfg())
    assert (
        len(
            {
                cache.config_key(base),
                *(cache.config_key(replace(base, **kw)) for kw in ({"n": 4}, {"lr": 0.02}, {"name": "b"})),
            }
        )
        == 4
    )


def test_key_changes_with_cache_version():
    assert cache.config_key(Cfg(), version=georecall.CACHE_VERSION) != cache.config_key(
        Cfg(), version=georecall.CACHE_VERSION + 1
    )


def test_roundtrip_and_single_compute(tmp_path):
    compute, calls = _compute_counter()
    a = cache.run_or_load(Cfg(), compute, cache=tmp_path)
    b = cache.run_or_load(Cfg(), compute, cache=tmp_path)
    assert len(calls) == 1, "second call should load, not recompute"
    assert b.scalars == a.scalars and np.array_equal(b.arrays["x"], a.arrays["x"])
    assert b.meta["provenance"]["git_sha"]


def test_env_var_sets_default_root(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "c"))
    assert cache.Cache().root == tmp_path / "c"


def _entry(tmp_path, cfg=Cfg()):
    compute, calls = _compute_counter()
    cache.run_or_load(cfg, compute, cache=tmp_path)
    return cache.Cache(tmp_path).paths(cache.config_key(cfg)), compute, calls


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _rewrite_json(path, **changes):
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


DAMAGE = {
    "truncated npz": lambda j, z: _truncate(z),
    "truncated json": lambda j, z: _truncate(j),
    "missing npz": lambda j, z: z.unlink(),
    "older cache version": lambda j, z: _rewrite_json(j, cache_version=georecall.CACHE_VERSION - 1),
    "other schema": lambda j, z: _rewrite_json(j, schema="something-else/0"),
    "config of another point": lambda j, z: _rewrite_json(j, config={"n": 99, "lr": 0.01, "name": "a"}),
    "npz replaced by another valid archive": lambda j, z: np.savez(open(z, "wb"), x=np.zeros(3)),
    "not a JSON object": lambda j, z: j.write_text("[1, 2]"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_entry_is_detected_and_recomputed(tmp_path, damage):
    (json_path, npz_path), compute, calls = _entry(tmp_path)
    DAMAGE[damage](json_path, npz_path)
    with pytest.warns(cache.CacheWarning):
        art = cache.run_or_load(Cfg(), compute, cache=tmp_path)
    assert len(calls) == 2, f"{damage}: the entry should have been recomputed"
    assert art.scalars == {"n": 3, "value": 4.5} and np.array_equal(art.arrays["x"], np.arange(3.0))
    again = cache.run_or_load(Cfg(), compute, cache=tmp_path)  # and the rewritten entry is good again
    assert len(calls) == 2 and again.scalars == art.scalars


def test_entry_from_an_older_cache_version_is_never_found(tmp_path, monkeypatch):
    compute, calls = _compute_counter()
    monkeypatch.setattr(cache, "CACHE_VERSION", georecall.CACHE_VERSION - 1)
    cache.run_or_load(Cfg(), compute, cache=tmp_path)
    monkeypatch.setattr(cache, "CACHE_VERSION", georecall.CACHE_VERSION)
    cache.run_or_load(Cfg(), compute, cache=tmp_path)
    assert len(calls) == 2, "a version bump must change the key (old entries are not reused)"


def test_interrupted_write_leaves_no_entry(tmp_path, monkeypatch):
    compute, calls = _compute_counter()
    real_replace = os.replace

    def crash_on_json(src, dst):  # the process dies after the NPZ landed, before the JSON commit
        if str(dst).endswith(".json"):
            raise KeyboardInterrupt("simulated kill")
        return real_replace(src, dst)

    monkeypatch.setattr(cache.os, "replace", crash_on_json)
    with pytest.raises(KeyboardInterrupt):
        cache.run_or_load(Cfg(), compute, cache=tmp_path)
    monkeypatch.setattr(cache.os, "replace", real_replace)
    json_path, _ = cache.Cache(tmp_path).paths(cache.config_key(Cfg()))
    assert not json_path.exists(), "an interrupted write must not leave a committed entry"
    assert not list(tmp_path.rglob("*.tmp")), "temporary files are cleaned up on failure"
    assert cache.Cache(tmp_path).load(Cfg()) is None
    cache.run_or_load(Cfg(), compute, cache=tmp_path)
    assert len(calls) == 2


def test_stray_temp_file_is_ignored(tmp_path):
    (json_path, _), compute, calls = _entry(tmp_path)
    (json_path.parent / (json_path.name + ".abc.tmp")).write_text('{"half": ')
    assert cache.Cache(tmp_path).load(Cfg()) is not None


def test_compute_must_return_an_artifact(tmp_path):
    with pytest.raises(TypeError, match="Artifact"):
        cache.run_or_load(Cfg(), lambda c: {"not": "an artifact"}, cache=tmp_path)


def test_arrays_load_without_pickle(tmp_path):
    def compute(c):
        return cache.Artifact(scalars={}, arrays={"obj": np.array([{"a": 1}], dtype=object)})

    with pytest.raises(ValueError):  # object arrays cannot be written without pickle: refuse early
        cache.Cache(tmp_path).store(Cfg(), compute(Cfg()))
