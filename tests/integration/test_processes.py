"""Processes: a killed CLI leaves no worker behind; two writers into one output folder never clash."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from georecall.run import executors
from georecall.sweep import tables

LIB = Path(__file__).resolve().parents[2] / "lib"
ENV = {**os.environ, "PYTHONPATH": str(LIB)}
linux_only = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc")


def _children(pid: int) -> set[int]:
    kids = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids.update(int(k) for k in (task / "children").read_text().split())
        except OSError:
            pass
    return kids


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped has finished: it holds no memory and runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@linux_only
@pytest.mark.slow
def test_kill_9_of_the_cli_leaves_no_worker_alive(tmp_path):
    """kill -9 of `python -m georecall sweep ... --workers 2`: every child (pool workers, resource tracker) exits.

    Running workers die at once (PR_SET_PDEATHSIG); one still importing when its parent dies exits as soon as it
    starts (it finds itself re-parented), hence the generous deadline on a loaded machine."""
    argv = ["sweep", "smoke", "--only", "e1_capacity", "--workers", "2", "--quiet"]  # six lines: both workers busy
    argv += ["--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "georecall", *argv],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 300
        workers: set[int] = set()
        while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
            kids = _children(proc.pid)
            workers = {k for k in kids if "spawn_main" in _cmdline(k)}
            time.sleep(0.2)
        assert len(workers) == 2, f"the pool did not start: children {kids}"
        kids = _children(proc.pid)
        time.sleep(1.0)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.time() + 180
    while time.time() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.2)
    survivors = {k: _cmdline(k) for k in kids if _alive(k)}
    for pid in survivors:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"children outlived the killed CLI: {survivors}"


WRITER = """
import sys
import pandas as pd
from georecall.run import executors
from georecall.sweep import tables
value, n = float(sys.argv[1]), int(sys.argv[2])
df = pd.DataFrame({c: [value] * 500 for c in tables.DENSE_COLUMNS})
for _ in range(n):
    tables.write_table("dense_accuracy", df, sys.argv[3])
"""


def test_two_writers_into_one_output_folder_never_clash_and_readers_see_whole_tables(tmp_path):
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(v), "150", str(tmp_path)], env=ENV, stderr=subprocess.PIPE)
        for v in (0.25, 0.75)
    ]
    reads = 0
    path = tmp_path / "dense_accuracy.csv"
    while any(w.poll() is None for w in writers):
        if path.exists():
            df = pd.read_csv(path)
            assert len(df) == 500 and df["accuracy"].nunique() == 1, "a reader saw a partial or mixed table"
            reads += 1
    errors = [w.stderr.read().decode() for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    assert tables.load_table("dense_accuracy", tmp_path)["accuracy"].iloc[0] in (0.25, 0.75)
    assert not [p for p in tmp_path.iterdir() if p.name != "dense_accuracy.csv"], "no temporary file is left"
    assert reads > 0


def _sigint_ignored() -> bool:
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_pool_workers_ignore_ctrl_c_and_the_parent_ends_them_at_once():
    """A terminal's Ctrl-C reaches the whole process group: workers ignore it (so none prints a KeyboardInterrupt
    traceback), and the parent's KeyboardInterrupt terminates the busy workers instead of waiting for their stacks."""
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with executors.make_executor(workers=2) as ex:
            assert ex.submit(_sigint_ignored).result(timeout=60)
            ex.submit(time.sleep, 60)
            time.sleep(1)
            raise KeyboardInterrupt
    assert time.monotonic() - t0 < 30, "the pool waited for a stack nobody will read"
