"""The artifact cache: stable keys, atomic writes, and every damaged or stale entry recomputed, never loaded."""

import json
import os
import stat
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pytest

import georecall
from georecall.sweep import cache


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


# --- integrity: checksum, types, hostile content, permissions, read-only folders, temp files, locks ----------


def _edit_json(path, edit, *, fix_checksum=False):
    """Apply ``edit(meta)`` to an entry's JSON; with ``fix_checksum`` re-sign it, as a deliberate forger would."""
    meta = json.loads(path.read_text())
    edit(meta)
    if fix_checksum:
        meta["checksum"] = cache._checksum(meta)
    path.write_text(json.dumps(meta))


def _load_warnings(tmp_path, cfg=Cfg(), **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        art = cache.Cache(tmp_path).load(cfg, **kw)
    return art, [w for w in caught if issubclass(w.category, cache.CacheWarning)]


def test_an_edited_value_is_detected_by_the_checksum_and_recomputed(tmp_path):
    (json_path, _), compute, calls = _entry(tmp_path)
    _edit_json(json_path, lambda m: m["scalars"].update(value=1.0))  # another valid value
    art, caught = _load_warnings(tmp_path)
    assert art is None and len(caught) == 1 and "checksum" in str(caught[0].message)
    assert str(json_path) in str(caught[0].message)
    with pytest.warns(cache.CacheWarning):
        again = cache.run_or_load(Cfg(), compute, cache=tmp_path)
    assert len(calls) == 2 and again.scalars["value"] == 4.5


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (lambda m: m["scalars"].update(value="high"), {"n": int, "value": float}),
        (lambda m: m.update(scalars={}), {"n": int, "value": float}),
        (lambda m: m["scalars"].update(n=True), {"n": int, "value": float}),
        (lambda m: m["scalars"].update(value=[1, 2]), None),
        (lambda m: m.update(scalars=[1]), None),
    ],
    ids=["string for a float", "empty scalars", "bool for an int", "a list", "scalars a list"],
)
def test_a_re_signed_entry_with_wrong_types_is_refused(tmp_path, edit, expect):
    (json_path, _), _, _ = _entry(tmp_path)
    _edit_json(json_path, edit, fix_checksum=True)
    art, caught = _load_warnings(tmp_path, expect=expect)
    assert art is None and len(caught) == 1 and str(json_path) in str(caught[0].message)


HOSTILE = {
    "5000-digit number": lambda j: j.write_text('{"schema": "georecall-cache/2", "x": ' + "9" * 5000 + "}"),
    "100000-deep nesting": lambda j: j.write_text("[" * 100_000 + "]" * 100_000),
    "Infinity": lambda j: j.write_text('{"schema": Infinity}'),
    "not UTF-8": lambda j: j.write_bytes(b"\xff\xfe{}"),
    "a folder": lambda j: (j.unlink(), j.mkdir()),
    "larger than the limit": lambda j: j.write_bytes(b" " * (cache.MAX_JSON_BYTES + 1)),
    "null": lambda j: j.write_text("null"),
    "arrays.names = 5": lambda j: _edit_json(j, lambda m: m["arrays"].update(names=5), fix_checksum=True),
    "arrays a string": lambda j: _edit_json(j, lambda m: m.update(arrays="x"), fix_checksum=True),
    "1e999 scalar": lambda j: j.write_text(j.read_text().replace('"value": 4.5', '"value": 1e999')),
    "1e999 re-signed": lambda j: _edit_json(j, lambda m: m["scalars"].update(value=1e308 * 10), fix_checksum=False),
    "key a number": lambda j: _edit_json(j, lambda m: m.update(key=5), fix_checksum=True),
    "config a list": lambda j: _edit_json(j, lambda m: m.update(config=[1]), fix_checksum=True),
    "checksum missing": lambda j: _edit_json(j, lambda m: m.pop("checksum")),
}


@pytest.mark.parametrize("hostile", list(HOSTILE))
def test_hostile_json_never_raises_out_of_the_cache(tmp_path, hostile):
    (json_path, _), compute, calls = _entry(tmp_path)
    HOSTILE[hostile](json_path)
    art, caught = _load_warnings(tmp_path)
    assert art is None and len(caught) == 1, [str(w.message) for w in caught]
    assert str(json_path) in str(caught[0].message)
    if json_path.is_dir():
        json_path.rmdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cache.run_or_load(Cfg(), compute, cache=tmp_path)
    assert len(calls) == 2 and cache.Cache(tmp_path).load(Cfg()) is not None


def test_each_warning_is_given_once(tmp_path):
    (json_path, _), _, _ = _entry(tmp_path)
    _truncate(json_path)
    store = cache.Cache(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert store.load(Cfg()) is None and store.load(Cfg()) is None
    assert len([w for w in caught if issubclass(w.category, cache.CacheWarning)]) == 1


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_get_the_permissions_the_umask_allows(tmp_path, umask):
    old = os.umask(umask)
    try:
        (json_path, npz_path), _, _ = _entry(tmp_path)
    finally:
        os.umask(old)
    for p in (json_path, npz_path):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask


def _simulate_read_only(monkeypatch):
    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache.tempfile, "mkstemp", refuse)


def test_a_read_only_folder_is_read_and_says_it_cannot_write(tmp_path, monkeypatch):
    _entry(tmp_path)
    _simulate_read_only(monkeypatch)
    store = cache.Cache(tmp_path)
    with pytest.warns(cache.CacheWarning, match="not writable"):
        assert store.prepare() is False
    assert store.read_only and store.load(Cfg()) is not None, "existing entries are still read"
    assert store.store(Cfg(n=4), cache.Artifact(scalars={"n": 4})) is None, "nothing is written"
    compute, calls = _compute_counter()
    art = cache.run_or_load(Cfg(n=5), compute, cache=store)  # computes, cannot store, does not fail
    assert len(calls) == 1 and art.scalars["n"] == 5 and store.load(Cfg(n=5)) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_a_really_read_only_folder(tmp_path):
    _entry(tmp_path)
    for p in [tmp_path, *tmp_path.iterdir()]:
        p.chmod(0o555)
    try:
        store = cache.Cache(tmp_path)
        with pytest.warns(cache.CacheWarning, match="not writable"):
            assert store.prepare() is False
        assert store.load(Cfg()) is not None
    finally:
        for p in [tmp_path, *tmp_path.iterdir()]:
            p.chmod(0o755)


def test_stale_temp_files_are_removed_on_the_next_run_and_live_ones_kept(tmp_path):
    (json_path, _), _, _ = _entry(tmp_path)
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead = finished.pid  # a writer that is gone
    names = {
        "dead writer": f"{json_path.name}.{cache._HOST}.{dead}.abc.tmp",
        "live writer": f"{json_path.name}.{cache._HOST}.{os.getpid()}.abc.tmp",
        "old, other host": f"{json_path.name}.elsewhere.1.abc.tmp",
        "recent, other host": f"{json_path.name}.elsewhere.2.abc.tmp",
    }
    for name in names.values():
        (json_path.parent / name).write_text("{")
    old = time.time() - 2 * cache.STALE_TMP_SECONDS
    os.utime(json_path.parent / names["old, other host"], (old, old))
    cache.Cache(tmp_path).prepare()
    left = {label for label, name in names.items() if (json_path.parent / name).exists()}
    assert left == {"live writer", "recent, other host"}


def test_temp_names_are_unique_per_write(tmp_path, monkeypatch):
    seen = []
    real = cache.tempfile.mkstemp
    monkeypatch.setattr(cache.tempfile, "mkstemp", lambda **kw: seen.append(real(**kw)) or seen[-1])
    _entry(tmp_path)
    _entry(tmp_path, Cfg(n=4))
    assert len({p for _, p in seen}) == len(seen) == 4 and all(f".{os.getpid()}." in p for _, p in seen)


def test_an_entry_lock_is_exclusive_and_released_on_close(tmp_path):
    store = cache.Cache(tmp_path)
    held = store.try_claim(Cfg())
    assert held is not None and store.try_claim(Cfg()) is None and store.try_claim(Cfg(n=4)) is not None
    held.close()
    again = store.try_claim(Cfg())
    assert again is not None
    again.close()


def test_a_second_process_waits_for_the_entry_instead_of_computing_it(tmp_path):
    """run_or_load blocks on the entry's lock while another holder computes, then loads its result."""
    store = cache.Cache(tmp_path)
    held = store.try_claim(Cfg())
    compute, calls = _compute_counter()
    result = {}
    t = threading.Thread(target=lambda: result.update(art=cache.run_or_load(Cfg(), compute, cache=tmp_path)))
    t.start()
    time.sleep(0.3)
    assert t.is_alive(), "run_or_load should wait for the lock"
    store.store(Cfg(), cache.Artifact(scalars={"n": 3, "value": -1.0}, arrays={"x": np.zeros(3)}))
    held.close()
    t.join(timeout=30)
    assert not calls and result["art"].scalars["value"] == -1.0
