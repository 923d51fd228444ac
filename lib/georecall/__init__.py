"""georecall: geometric factual recall in one-layer transformers, as executable notes.

The package is organised by stage, each a subpackage whose ``__init__`` exports what the chapters use (imports run
one way, lowest first): ``theory`` (closed forms) -> ``tasks`` (fact sets) -> ``model`` (the transformer and recall)
-> ``construct`` | ``train`` | ``probe`` -> ``sweep`` (declared points, presets, the cache, committed tables) ->
``analyse`` | ``plot`` -> ``run`` | ``explore`` -> ``__main__`` (the command line). Here: the version numbers and
:func:`scale`, which every chapter reads and which imports nothing.
"""

import os

__version__ = "0.1.0"
# Bump when a cached artifact's meaning or format changes; old entries are then recomputed.
# 2: batched cross-entropy backward; 3: the fused training step (float round-off moves runs near threshold);
# 4: entries carry a whole-entry checksum and sweep points a `failed` scalar; 5: the faster fused step (short
# sequences position by position, narrow products transposed, denormals flushed): float round-off again.
CACHE_VERSION = 5
SCALES = ("smoke", "full")


def scale() -> str:
    """``BOOK_SCALE`` (``smoke`` or ``full``; default ``smoke``), read once per call site."""
    value = os.environ.get("BOOK_SCALE", "smoke")
    if value not in SCALES:
        raise ValueError(f"BOOK_SCALE must be one of {SCALES}, got {value!r}")
    return value
