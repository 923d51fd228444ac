"""A content-addressed, atomically written artifact store: ``run_or_load(config, compute)``.

An entry is keyed by ``key = sha256(canonical JSON of {cache_version, config type, config fields})``, so any
change to a config field or to ``georecall.CACHE_VERSION`` gives a new key. Parameters never go into file
names. An entry is two files in ``<root>/<key[:2]>/``:

    <key>.npz    the arrays (``numpy.savez``, loaded with ``allow_pickle=False``)
    <key>.json   schema, cache version, key, the config itself, the scalars, the SHA-256 of the .npz, provenance

Writes are atomic: each file goes to a temporary file in the same folder, is flushed and fsynced, then
``os.replace``-d into place, NPZ first and JSON last, so the JSON is the commit marker. An interrupted run
leaves at most a stray ``*.tmp`` file (ignored) or an NPZ without its JSON (not an entry). On load,
everything is validated (JSON parses; schema, version, key and config match; the NPZ hash matches and the
archive holds the listed arrays); on *any* mismatch the entry is reported with a warning and recomputed,
never loaded wrong.

The root is ``$GEORECALL_CACHE`` if set, else ``~/.cache/georecall``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import platform
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import CACHE_VERSION, __version__

__all__ = ["SCHEMA", "ENV_VAR", "Artifact", "Cache", "CacheWarning", "default_root", "config_key", "run_or_load"]

SCHEMA = "georecall-cache/1"  # layout of one entry (the files above); a different schema is never loaded
ENV_VAR = "GEORECALL_CACHE"
log = logging.getLogger(__name__)


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
    env = os.environ.get(ENV_VAR)
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

    >>> from georecall.tasks import TaskConfig
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
    try:
        import torch  # only to record its version: the cache itself needs no torch (sweeps stay torch-free)

        info["torch"] = torch.__version__
    except ImportError:  # the cache itself needs no torch
        pass
    info["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return info


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, then ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Cache:
    """The on-disk store under ``root`` (default :func:`default_root`)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    def paths(self, key: str) -> tuple[Path, Path]:
        """(json, npz) paths of the entry ``key``."""
        folder = self.root / key[:2]
        return folder / f"{key}.json", folder / f"{key}.npz"

    def _reject(self, path: Path, why: str) -> None:
        msg = f"cache entry {path} {why}; recomputing"
        log.warning(msg)
        warnings.warn(msg, CacheWarning, stacklevel=3)

    def load(self, config) -> Artifact | None:
        """The stored artifact of ``config``, or ``None`` if absent or invalid (invalid entries warn)."""
        key = config_key(config)
        json_path, npz_path = self.paths(key)
        if not json_path.exists():
            return None
        try:
            meta = json.loads(json_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            self._reject(json_path, f"is not valid JSON ({err.__class__.__name__}: {err})")
            return None
        if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
            self._reject(
                json_path, f"has schema {meta.get('schema') if isinstance(meta, dict) else None!r}, not {SCHEMA!r}"
            )
            return None
        if meta.get("cache_version") != CACHE_VERSION:
            self._reject(json_path, f"was written by cache version {meta.get('cache_version')!r}, not {CACHE_VERSION}")
            return None
        if meta.get("key") != key or meta.get("config") != json.loads(_canonical(_config_dict(config))):
            self._reject(json_path, "belongs to a different config (key or config mismatch)")
            return None
        arrays_meta = meta.get("arrays")
        if not isinstance(arrays_meta, dict) or not isinstance(meta.get("scalars"), dict):
            self._reject(json_path, "lacks its 'arrays' or 'scalars' record")
            return None
        try:
            blob = npz_path.read_bytes()
        except OSError as err:
            self._reject(npz_path, f"cannot be read ({err})")
            return None
        if hashlib.sha256(blob).hexdigest() != arrays_meta.get("sha256"):
            self._reject(npz_path, "does not match the SHA-256 recorded in its JSON (truncated or overwritten?)")
            return None
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, KeyError) as err:
            self._reject(npz_path, f"is not a readable NPZ archive ({err})")
            return None
        if sorted(arrays) != sorted(arrays_meta.get("names", [])):
            self._reject(npz_path, f"holds arrays {sorted(arrays)}, expected {sorted(arrays_meta.get('names', []))}")
            return None
        return Artifact(scalars=meta["scalars"], arrays=arrays, meta={**meta, "path": str(json_path)})

    def store(self, config, artifact: Artifact) -> Path:
        """Write ``artifact`` as the entry of ``config`` (atomically: NPZ, then the JSON that commits it)."""
        key = config_key(config)
        json_path, npz_path = self.paths(key)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {k: np.asarray(v) for k, v in artifact.arrays.items()}
        for k, v in arrays.items():
            if v.dtype.kind == "O":
                raise ValueError(
                    f"array {k!r} has dtype object, which NPZ can only store with pickle; use numeric arrays"
                )
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
            "arrays": {
                "file": npz_path.name,
                "sha256": hashlib.sha256(blob).hexdigest(),
                "names": sorted(artifact.arrays),
            },
            "provenance": _provenance(),
        }
        _atomic_write(json_path, json.dumps(meta, sort_keys=True, indent=1).encode())
        artifact.meta = {**meta, "path": str(json_path)}
        return json_path

    def clear(self) -> int:
        """Delete every entry (and stray temp file) under ``root``; returns the number of files removed."""
        removed = 0
        if self.root.exists():
            for p in self.root.glob("??/*"):
                if p.suffix in (".json", ".npz", ".tmp"):
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
    :class:`CacheWarning`.
    """
    store = cache if isinstance(cache, Cache) else Cache(cache)
    if not recompute:
        hit = store.load(config)
        if hit is not None:
            return hit
    artifact = compute(config)
    if not isinstance(artifact, Artifact):
        raise TypeError(f"compute must return a cache.Artifact, got {type(artifact).__name__}")
    store.store(config, artifact)
    return artifact
