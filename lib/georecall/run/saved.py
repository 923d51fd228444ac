"""A trained model on disk, and its evaluation against a task: what ``python -m georecall evaluate`` runs.

:func:`save_model` writes one file (atomically, with the umask's mode) holding a plain dict that ``torch.load``
reads with ``weights_only=True``: no object is ever unpickled, only tensors, numbers and strings::

    {"format": "georecall-model", "version": 1,
     "config": {ModelConfig field: value},            # d_vocab, d_vocab_out, n_ctx, d_model, ..., data_format
     "state_dict": {parameter or buffer name: tensor},
     "task": {"n_subjects": N, "n_relations": R, "seed": s} or None}   # the task it was trained on, if given

:func:`load_model` reads only a regular file, at most ``max_bytes`` of it (a FIFO, a device or a symlink is refused
at once), checks the format name and version, rebuilds the :class:`~georecall.model.transformer.ModelConfig`
through its own checks, and requires every tensor of the state dict to have the name, shape and dtype class the
config gives (no missing or extra tensor). It does not check the weights' values: a diverged (NaN) model loads,
and :func:`evaluate_saved` refuses to score it, through the same checks every evaluator and probe applies
(finite weights, model-task compatibility, the memory budget), all before any work.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch

from .._checks import ArgumentTypeError, check_bool, check_int
from ..model.compat import check_model_task
from ..model.recall import DEFAULT_MAX_BYTES, evaluate_recall
from ..model.transformer import ModelConfig, Transformer
from ..probe.storage import check_probe_inputs
from ..probe.summary import probe_all
from ..sweep import files
from ..tasks.bijection import TaskConfig, make_task

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_MODEL_BYTES", "SavedModel", "save_model", "load_model", "evaluate_saved"]

FORMAT = "georecall-model"
FORMAT_VERSION = 1
MAX_MODEL_BYTES = 2**30  # the most bytes load_model reads by default (a 1 GiB file is about 250M float32 weights)
_TASK_KEYS = ("n_subjects", "n_relations", "seed")


@dataclass(frozen=True)
class SavedModel:
    """A loaded model and the task it was saved with (``None`` when the file records none)."""

    model: Transformer
    task: TaskConfig | None


def save_model(model: Transformer, path: str | os.PathLike, *, task=None) -> Path:
    """Write ``model`` (its config and every parameter and buffer) to ``path``, with ``task`` (a ``BijectionTask``
    or ``TaskConfig``, optional) recorded beside it; returns the path. The file is written to a temporary name in
    the same folder and renamed into place, with the mode the umask gives (``0o666 & ~umask``)."""
    if not isinstance(model, Transformer):  # a diverged model may be saved; it is refused where it is scored
        raise ArgumentTypeError(f"model must be a georecall.model.transformer.Transformer, got {type(model).__name__}")
    cfg = getattr(task, "config", task)
    if task is not None and not isinstance(cfg, TaskConfig):
        raise ArgumentTypeError(f"task must be a BijectionTask, a TaskConfig or None, got {type(task).__name__}")
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": dataclasses.asdict(model.config),
        "state_dict": {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()},
        "task": None if cfg is None else {k: int(getattr(cfg, k)) for k in _TASK_KEYS},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a folder; give a file name, e.g. model.pt")
    files.atomic_write(path, buffer.getvalue())
    return path


def load_model(path: str | os.PathLike, *, max_bytes: int = MAX_MODEL_BYTES) -> SavedModel:
    """The model (and recorded task) in the file ``path`` written by :func:`save_model`.

    Raises ``ValueError`` naming the path when it is not a regular file (a FIFO, a device, a symlink, a folder), holds
    more than ``max_bytes``, is not a georecall model of this format version, or has a tensor missing, extra or of
    the wrong shape for the config; ``OSError`` when the system cannot read it (e.g. ``FileNotFoundError``). Never
    unpickles: ``torch.load(weights_only=True)``."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise ArgumentTypeError(f"path must be a non-empty str or os.PathLike, got {path!r}")
    check_int("max_bytes", max_bytes, 1)
    try:
        data = files.read_regular(path, max_bytes)  # regular files only, bounded: a FIFO or /dev/zero never hangs
    except files.NotRegularFileError as err:
        raise ValueError(str(err)) from None
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError):
        raise ValueError(
            f"{path} is not a georecall model file (torch.load with weights_only=True refused it: not a torch file, "
            "or it holds objects other than tensors, numbers and strings; nothing was unpickled)"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"{path} is not a georecall model file (no format tag {FORMAT!r}); write one with save_model")
    if obj.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format version {obj.get('version')!r}; this georecall reads version {FORMAT_VERSION}"
        )
    config, state, task = obj.get("config"), obj.get("state_dict"), obj.get("task")
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    if not isinstance(config, dict) or set(config) - fields:
        extra = sorted(set(config) - fields) if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"{path}: config must be a dict of ModelConfig fields, got {extra}")
    try:
        model = Transformer(ModelConfig(**config))
        task_config = None if task is None else _task_config(task)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None
    _check_state(path, state, model.state_dict())
    model.load_state_dict(state, strict=True)
    return SavedModel(model, task_config)


def _task_config(task) -> TaskConfig:
    if not isinstance(task, dict) or set(task) != set(_TASK_KEYS):
        raise ValueError(f"task must be None or a dict with keys {list(_TASK_KEYS)}, got {task!r:.120}")
    return TaskConfig(**task)


def _check_state(path, state, expected: dict[str, torch.Tensor]) -> None:
    """``state`` holds exactly the tensors of ``expected``, each of the same shape and dtype class."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: state_dict must be a dict of tensors")
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(f"{path}: state_dict does not fit the config (missing {missing}, unexpected {extra})")
    for name, want in expected.items():
        got = state[name]
        if tuple(got.shape) != tuple(want.shape):
            raise ValueError(f"{path}: {name} has shape {list(got.shape)}, the config gives {list(want.shape)}")
        if got.dtype.is_floating_point != want.dtype.is_floating_point or got.dtype.is_complex:
            raise ValueError(f"{path}: {name} has dtype {got.dtype}, the config gives {want.dtype}")


def evaluate_saved(
    path: str | os.PathLike,
    *,
    n_subjects: int | None = None,
    n_relations: int | None = None,
    seed: int | None = None,
    probe: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict:
    """Load the model in ``path`` and score it on the task (N, R, seed): given here, else the one the file records.

    Every check runs before any work: the file (:func:`load_model`), finite weights and model-task compatibility
    (``model.compat.check_model_task``: N, R, vocabulary, format), and the memory budget ``max_bytes`` of the
    evaluation and, with ``probe``, of the probes (``probe.storage.check_probe_inputs``). Returns a JSON-ready dict:
    the task, ``accuracy`` and ``min_margin`` on all N R facts, and with ``probe`` every probe's headline number
    (``probe.probe_all``)."""
    check_bool("probe", probe)
    check_int("max_bytes", max_bytes, 1)
    saved = load_model(path)
    recorded = saved.task
    given = {"n_subjects": n_subjects, "n_relations": n_relations, "seed": seed}
    if recorded is None and (n_subjects is None or n_relations is None):
        raise ValueError(f"{path} records no task; give n_subjects and n_relations (and seed)")
    values = {k: (getattr(recorded, k) if v is None and recorded is not None else v) for k, v in given.items()}
    values["seed"] = 0 if values["seed"] is None else values["seed"]
    cfg = TaskConfig(**values)  # the task's own range checks (N, R, seed)
    model = saved.model
    if cfg.n_subjects != model.config.d_vocab_out:  # before the task's bijections are drawn: a cheap mismatch
        raise ValueError(
            f"task has N={cfg.n_subjects} but the model has d_vocab_out={model.config.d_vocab_out} output classes"
        )
    task = make_task(cfg.n_subjects, cfg.n_relations, seed=cfg.seed)
    check_model_task(model, task)  # finite weights, N, R, vocabulary and format: before anything is allocated
    if probe:
        check_probe_inputs(model, task, max_bytes)  # the probes' memory, before the evaluation runs
    result = evaluate_recall(model, task, max_bytes=max_bytes)
    out = {"model": str(path), "n_subjects": task.N, "n_relations": task.R, "seed": cfg.seed}
    out |= {"accuracy": result.accuracy, "min_margin": result.min_margin}
    if probe:
        out["probes"] = probe_all(model, task, max_bytes=max_bytes).asdict()
    return out
