"""A content-addressed, atomically written, checksummed artifact store: ``run_or_load(config, compute)``.

An entry is keyed by ``key = sha256(canonical JSON of {cache_version, config type, config fields})``, so any
change to a config field or to ``georecall.CACHE_VERSION`` gives a new key. Parameters never go into file
names. An entry is two files in ``<root>/<key[:2]>/``:

    <key>.npz    the arrays (``numpy.savez``, loaded with ``allow_pickle=False``)
    <key>.json   schema, cache version, key, the config itself, the scalars, the SHA-256 of the .npz, provenance,
                 and ``checksum``: the SHA-256 of the canonical JSON of everything else in the file

so the checksum covers the whole entry (the scalars directly, the arrays through the NPZ's hash). Writes are
atomic: each file goes to a uniquely named temporary file ``<name>.<host>.<pid>.<random>.tmp`` in the same folder,
is flushed and fsynced, given the permissions the process's umask allows (group-readable by default, so a lab
can share a cache folder), then ``os.replace``-d into place, NPZ first and JSON last, so the JSON is the commit
marker. An interrupted run leaves at most a stray temporary file, removed by :meth:`Cache.prepare` on a later
run once its writer is gone, or an NPZ without its JSON (not an entry).

On load *any* problem (unreadable or oversized file, invalid or hostile JSON such as huge numbers or deep
nesting, wrong schema, version, key or config, a checksum that does not match, scalars of the wrong type or
non-finite, a damaged NPZ) is reported once with a :class:`CacheWarning` naming the file, and the entry is
recomputed; nothing read from the cache ever raises.

Concurrency: two processes sharing a cache never train the same entry twice. Before computing an entry a
process takes an advisory ``fcntl`` lock on ``<key>.lock`` (:meth:`Cache.claim`); a second process that finds
the lock held waits for it and then loads the entry the first one wrote (or computes it, if the first one died
before writing). The locks are released by the operating system when a process dies. A cache folder that
cannot be written is used read-only: :meth:`Cache.prepare` says so once, before any work; one that stops
accepting writes mid-sweep (a full disk, a shard folder that is a file) turns read-only with one warning naming
the entry, and the sweep goes on uncached. Only regular files are read (a FIFO or a symlink is refused), each
bounded by its expected size.

The root is ``$GEORECALL_CACHE`` if set (and not empty), else ``~/.cache/georecall``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import CACHE_VERSION, __version__
from .files import _HOST, NotRegularFileError, read_regular
from .files import atomic_write as _atomic_write

try:
    import fcntl  # advisory locks (POSIX); without them two processes may compute one entry twice (never wrongly)
except ImportError:  # Windows
    fcntl = None

__all__ = [
    "SCHEMA",
    "ENV_VAR",
    "MAX_JSON_BYTES",
    "Artifact",
    "Cache",
    "CacheWarning",
    "default_root",
    "config_key",
    "run_or_load",
    "check_scalars",
]

SCHEMA = "georecall-cache/2"  # layout of one entry (the files above; 2: whole-entry checksum); others are not loaded
ENV_VAR = "GEORECALL_CACHE"
MAX_JSON_BYTES = 16 * 2**20  # an entry's JSON is a few kB; a larger file is not read
MAX_NPZ_BYTES = 4 * 2**30  # an entry's arrays are at most a few hundred MB; a larger file is not read
STALE_TMP_SECONDS = 3600  # a temporary file this old is stale even if its writer cannot be checked (another host)
_SCALAR_TYPES = (bool, int, float, str, type(None))


class CacheWarning(UserWarning):
    """A cache entry was unreadable, stale or inconsistent and is being recomputed."""


@dataclass
class Artifact:
    """What a computation returns: JSON-able scalars and named numpy arrays."""

    scalars: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)  # filled on store/load: key, provenance, path


def default_root() -> Path:
    """``$GEORECALL_CACHE`` if set, else ``~/.cache/georecall``."""
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "georecall"


def _config_dict(config) -> dict:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, dict):
        return dict(config)
    raise TypeError(f"config must be a dataclass instance or a dict, got {type(config).__name__}")


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_key(config, *, version: int | None = None) -> str:
    """sha256 hex digest of canonical JSON of ``{cache_version, type, config}``.

    >>> from georecall.tasks.bijection import TaskConfig
    >>> config_key(TaskConfig(n_subjects=8)) == config_key(TaskConfig(n_subjects=8))
    True
    >>> config_key(TaskConfig(n_subjects=8)) != config_key(TaskConfig(n_subjects=9))
    True
    """
    version = CACHE_VERSION if version is None else version  # read at call time (tests patch it)
    payload = {"cache_version": version, "type": type(config).__name__, "config": _config_dict(config)}
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()


def _git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _provenance() -> dict:
    info = {
        "georecall": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "git_sha": _git_sha(),
    }
    torch = sys.modules.get("torch")  # recorded when loaded; the cache itself needs no torch (sweeps stay torch-free)
    if torch is not None:
        info["torch"] = torch.__version__
    info["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return info


def _tmp_is_stale(path: Path, now: float) -> bool:
    """A temporary file is stale when its writer (host and pid in its name) is gone, or it is an hour old."""
    try:
        if now - path.stat().st_mtime > STALE_TMP_SECONDS:
            return True
    except OSError:
        return False
    parts = path.name.split(".")
    if len(parts) >= 5 and parts[-4] == _HOST and parts[-3].isdigit():
        try:
            os.kill(int(parts[-3]), 0)
        except ProcessLookupError:
            return True
        except OSError:  # alive, owned by another user
            return False
    return False


def check_scalars(scalars, expect: Mapping[str, type | tuple] | None = None) -> str | None:
    """Why ``scalars`` is not a valid record, or None: a dict of str -> bool/int/finite float/str/None, and,
    when ``expect`` is given, exactly its names with values of its types (``float`` also admits an int)."""
    if not isinstance(scalars, dict):
        return f"scalars are a {type(scalars).__name__}, not an object"
    for name, value in scalars.items():
        if not isinstance(name, str) or not isinstance(value, _SCALAR_TYPES):
            return f"scalar {name!r} has type {type(value).__name__} (expected bool, int, float, str or null)"
        if isinstance(value, float) and not math.isfinite(value):
            return f"scalar {name!r} is {value} (not finite)"
    if expect is not None:
        if sorted(scalars) != sorted(expect):
            return f"has scalars {sorted(scalars)}, expected {sorted(expect)}"
        for name, types in expect.items():
            types = types if isinstance(types, tuple) else (types,)
            value = scalars[name]
            ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
            ok = ok or (float in types and isinstance(value, int) and not isinstance(value, bool))
            if not ok:
                names = [getattr(t, "__name__", str(t)) for t in types]
                return f"scalar {name!r} = {value!r} is a {type(value).__name__}, expected {' or '.join(names)}"
    return None


def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name}")


def _checksum(meta: dict) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in meta.items() if k != "checksum"}).encode()).hexdigest()


class Cache:
    """The on-disk store under ``root`` (default :func:`default_root`)."""

    def __init__(self, root: str | os.PathLike | None = None):
        if root is not None and not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"cache root must be a path (str or os.PathLike) or None, got {type(root).__name__}")
        if root is not None and str(root).strip() == "":
            raise ValueError("cache root must not be empty (an empty path would write into the current folder)")
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.read_only = False  # set by prepare() when the root cannot be written
        self._reported: set[str] = set()  # each warning once

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    def paths(self, key: str) -> tuple[Path, Path]:
        """(json, npz) paths of the entry ``key``."""
        folder = self.root / key[:2]
        return folder / f"{key}.json", folder / f"{key}.npz"

    def _warn(self, msg: str) -> None:
        if msg not in self._reported:
            self._reported.add(msg)
            warnings.warn(msg, CacheWarning, stacklevel=4)

    def _reject(self, path: Path, why: str) -> None:
        self._warn(f"cache entry {path} {why}; recomputing")

    def prepare(self) -> bool:
        """Check, before any work, that the root can be written (create it, write and delete a probe file), and
        remove stale temporary files of interrupted writers. Returns True if writable; otherwise the cache is
        used read-only (entries are loaded, nothing is stored) and a :class:`CacheWarning` says so once."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=".probe.", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            self.read_only = True
            self._warn(
                f"cache folder {self.root} is not writable ({err.strerror or err}): reading existing entries only, "
                "new results will not be stored"
            )
            return False
        self.read_only = False
        now = time.time()
        for tmp in self.root.glob("??/*.tmp"):
            if _tmp_is_stale(tmp, now):
                with contextlib.suppress(OSError):
                    tmp.unlink()
        return True

    def load(self, config, *, expect: Mapping[str, type | tuple] | None = None) -> Artifact | None:
        """The stored artifact of ``config``, or ``None`` if absent or invalid (invalid entries warn once and are
        recomputed by the caller). ``expect`` optionally names the scalars and their types (see
        :func:`check_scalars`). Never raises because of what is on disk."""
        key = config_key(config)
        json_path, npz_path = self.paths(key)
        try:
            if not os.path.lexists(json_path):
                return None
            return self._load(config, key, json_path, npz_path, expect)
        except Exception as err:  # hostile or damaged content of any kind: never let it escape
            self._reject(json_path, f"could not be read ({err.__class__.__name__}: {str(err)[:200]})")
            return None

    def _load(self, config, key: str, json_path: Path, npz_path: Path, expect) -> Artifact | None:
        try:
            raw = read_regular(json_path, MAX_JSON_BYTES)  # a FIFO, a device, a symlink or a huge file is refused
        except NotRegularFileError as err:  # its message starts with the path
            self._reject(json_path, str(err).removeprefix(f"{json_path} "))
            return None
        try:
            meta = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            self._reject(json_path, f"is not valid JSON ({err.__class__.__name__}: {str(err)[:200]})")
            return None
        if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
            self._reject(
                json_path, f"has schema {meta.get('schema') if isinstance(meta, dict) else None!r}, not {SCHEMA!r}"
            )
            return None
        if meta.get("cache_version") != CACHE_VERSION:
            self._reject(json_path, f"was written by cache version {meta.get('cache_version')!r}, not {CACHE_VERSION}")
            return None
        if meta.get("checksum") != _checksum(meta):
            self._reject(json_path, "does not match its checksum (edited or damaged)")
            return None
        if meta.get("key") != key or meta.get("config") != json.loads(_canonical(_config_dict(config))):
            self._reject(json_path, "belongs to a different config (key or config mismatch)")
            return None
        arrays_meta = meta.get("arrays")
        names = arrays_meta.get("names") if isinstance(arrays_meta, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self._reject(json_path, "lacks a valid 'arrays' record")
            return None
        why = check_scalars(meta.get("scalars"), expect)
        if why is not None:
            self._reject(json_path, why)
            return None
        try:
            blob = read_regular(npz_path, MAX_NPZ_BYTES)
        except NotRegularFileError as err:
            self._reject(npz_path, str(err).removeprefix(f"{npz_path} "))
            return None
        except OSError as err:
            self._reject(npz_path, f"cannot be read ({err.__class__.__name__}: {err.strerror or err})")
            return None
        if hashlib.sha256(blob).hexdigest() != arrays_meta.get("sha256"):
            self._reject(npz_path, "does not match the SHA-256 recorded in its JSON (truncated or overwritten?)")
            return None
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        if sorted(arrays) != sorted(names):
            self._reject(npz_path, f"holds arrays {sorted(arrays)}, expected {sorted(names)}")
            return None
        return Artifact(scalars=meta["scalars"], arrays=arrays, meta={**meta, "path": str(json_path)})

    def store(self, config, artifact: Artifact) -> Path | None:
        """Write ``artifact`` as the entry of ``config`` (atomically: NPZ, then the JSON that commits it); returns
        the JSON's path, or None when the cache is read-only (see :meth:`prepare`)."""
        if not isinstance(artifact, Artifact):
            raise TypeError(f"artifact must be a cache.Artifact, got {type(artifact).__name__}")
        why = check_scalars(artifact.scalars)
        if why is not None:
            raise ValueError(f"cannot store the artifact: {why}")
        arrays = {k: np.asarray(v) for k, v in artifact.arrays.items()}
        for k, v in arrays.items():
            if v.dtype.kind == "O":
                raise ValueError(
                    f"array {k!r} has dtype object, which NPZ can only store with pickle; use numeric arrays"
                )
        if self.read_only:
            return None
        key = config_key(config)
        json_path, npz_path = self.paths(key)
        try:
            return self._write(config, artifact, arrays, key, json_path, npz_path)
        except OSError as err:  # a full disk, a shard that is a file, an entry that is a folder: go on uncached
            self.read_only = True
            self._warn(
                f"cache entry {json_path} could not be written ({err.strerror or err}): the cache is used read-only "
                "from now on, new results are not stored"
            )
            return None

    def _write(self, config, artifact: Artifact, arrays: dict, key: str, json_path: Path, npz_path: Path) -> Path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        blob = buf.getvalue()
        _atomic_write(npz_path, blob)
        meta = {
            "schema": SCHEMA,
            "cache_version": CACHE_VERSION,
            "key": key,
            "config_type": type(config).__name__,
            "config": _config_dict(config),
            "scalars": artifact.scalars,
            "arrays": {"file": npz_path.name, "sha256": hashlib.sha256(blob).hexdigest(), "names": sorted(arrays)},
            "provenance": _provenance(),
        }
        meta["checksum"] = _checksum(meta)
        _atomic_write(json_path, json.dumps(meta, sort_keys=True, indent=1, allow_nan=False).encode())
        artifact.meta = {**meta, "path": str(json_path)}
        return json_path

    def try_claim(self, config, *, wait: bool = False):
        """The advisory lock of ``config``'s entry, as an open file (close it to release; the OS releases it when
        the process dies), or None if another process holds it and ``wait`` is False. Where no lock can be taken
        (read-only cache, no ``fcntl``) a dummy whose ``close`` does nothing is returned, so callers proceed."""
        if self.read_only or fcntl is None:
            return io.BytesIO()
        json_path, _ = self.paths(config_key(config))
        try:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            f = open(json_path.with_suffix(".lock"), "a+b")  # closed by the caller, which releases the lock
        except OSError:
            return io.BytesIO()
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.close()
            return None
        except OSError:
            f.close()
            return io.BytesIO()
        return f

    def clear(self) -> int:
        """Delete every entry (and stray temp and lock file) under ``root``; returns the number of files removed."""
        removed = 0
        if self.root.exists():
            for p in self.root.glob("??/*"):
                if p.suffix in (".json", ".npz", ".tmp", ".lock"):
                    p.unlink()
                    removed += 1
        return removed


def run_or_load(
    config,
    compute: Callable[[object], Artifact],
    *,
    cache: Cache | str | os.PathLike | None = None,
    recompute: bool = False,
) -> Artifact:
    """Load ``config``'s artifact from ``cache``, or ``compute(config)``, store it and return it.

    ``recompute=True`` ignores (and overwrites) an existing entry. An invalid entry is recomputed with a
    :class:`CacheWarning`. The entry's lock is held while computing, so a second process asking for the same
    config waits and then loads the result instead of computing it again.
    """
    store = cache if isinstance(cache, Cache) else Cache(cache)
    if not recompute:
        hit = store.load(config)
        if hit is not None:
            return hit
    lock = store.try_claim(config, wait=True)
    try:
        hit = None if recompute else store.load(config)  # another process may have written it while we waited
        if hit is not None:
            return hit
        artifact = compute(config)
        if not isinstance(artifact, Artifact):
            raise TypeError(f"compute must return a cache.Artifact, got {type(artifact).__name__}")
        store.store(config, artifact)
    finally:
        lock.close()
    return artifact
