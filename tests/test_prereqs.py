"""First contact on a fresh machine: the system prerequisites step (.ci/prereqs, run first by `make setup`) and the
command line of `make lab`.

Each test runs the real script or the real Makefile with a PATH that holds only a shim folder: a few real tools
linked in, and fakes for what is being hidden or mocked (`id` to choose the uid, `apt-get` to record its calls instead
of installing). npm and chromium are absent from that PATH, whatever this machine has.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PREREQS = REPO / ".ci" / "prereqs"
MAKE = shutil.which("make")
REAL_TOOLS = ("bash", "sh", "env", "rm", "test", "touch", "mkdir", "cat", "chmod")

pytestmark = pytest.mark.skipif(MAKE is None or shutil.which("bash") is None, reason="needs make and bash")


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)
    return path


@pytest.fixture
def shims(tmp_path):
    """A PATH folder with the basic tools, python3 (the interpreter running the tests: it has venv and ensurepip),
    and no npm, chromium or apt-get; ``uid(n)`` and ``apt(...)`` add fakes."""
    folder = tmp_path / "shims"
    folder.mkdir()
    for tool in REAL_TOOLS:
        found = shutil.which(tool)
        if found:
            (folder / tool).symlink_to(found)
    (folder / "python3").symlink_to(sys.executable)
    log = tmp_path / "calls.log"

    class Shims:
        path = folder
        calls = log

        def uid(self, n: int) -> None:
            _script(folder / "id", f'[[ "$1" == -u ]] && echo {n} || echo "uid={n}"\n')

        def apt(self, installs: bool) -> None:
            """apt-get that records its arguments; with ``installs``, `install` puts a fake of each package on PATH."""
            body = f'echo "apt-get $*" >> {log}\n'
            if installs:
                body += (
                    '[[ "$1" == install ]] && for p in "$@"; do\n'
                    f'    [[ $p == -* || $p == install ]] || {{ echo "#!/bin/bash" > "{folder}/$p"; }}\n'
                    f'    chmod +x "{folder}/$p" 2>/dev/null\n'
                    "done\n"
                )
            _script(folder / "apt-get", body + "exit 0\n")

        def env(self, **extra) -> dict:
            return {"PATH": str(folder), "HOME": str(tmp_path), "LANG": "C.UTF-8", **extra}

        def logged(self) -> list[str]:
            return log.read_text().splitlines() if log.exists() else []

    return Shims()


def _run(cmd, env, cwd, timeout=60):
    start = time.monotonic()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - start


@pytest.fixture
def fresh_clone(tmp_path):
    """The files `make setup` reads, in a folder with no .venv and no browser assets."""
    clone = tmp_path / "clone"
    (clone / ".ci").mkdir(parents=True)
    shutil.copy2(REPO / "Makefile", clone / "Makefile")
    shutil.copy2(REPO / "pyproject.toml", clone / "pyproject.toml")
    shutil.copy2(PREREQS, clone / ".ci" / "prereqs")
    return clone


@pytest.mark.parametrize("target", ["book", "test"])
def test_make_stops_with_the_apt_line_before_any_venv_work(shims, fresh_clone, target):
    """Not root: `make book` / `make test` with npm and chromium hidden stop at once, print the one-line install
    command (chromium only for the target that runs the browser tests), and create nothing."""
    shims.uid(1000)
    shims.apt(installs=False)
    done, seconds = _run([MAKE, target], shims.env(), fresh_clone)
    wanted = "npm chromium" if target == "test" else "npm"
    assert done.returncode != 0
    assert f"sudo apt-get install -y {wanted}\n" in done.stderr, done.stderr
    assert not (fresh_clone / ".venv").exists(), "a .venv was started before the prerequisites were there"
    assert not (fresh_clone / ".browser-assets").exists()
    assert shims.logged() == [], "apt-get must not be called when not root"
    assert seconds < 10, f"the prerequisite step took {seconds:.1f} s"


def test_root_installs_what_is_missing_with_one_apt_call(shims, tmp_path):
    shims.uid(0)
    shims.apt(installs=True)
    done, _ = _run([str(PREREQS), "venv", "npm", "chromium"], shims.env(), tmp_path)
    assert done.returncode == 0, done.stderr
    installs = [c for c in shims.logged() if c.startswith("apt-get install")]
    assert installs == ["apt-get install -y -qq npm chromium"], shims.logged()
    assert shims.logged()[0] == "apt-get update -qq"


def test_root_stops_when_apt_did_not_provide_the_tools(shims, tmp_path):
    shims.uid(0)
    shims.apt(installs=False)
    done, _ = _run([str(PREREQS), "npm"], shims.env(), tmp_path)
    assert done.returncode == 1
    assert "still missing after apt-get: npm" in done.stderr


def test_root_make_setup_calls_apt_before_venv_and_leaves_no_half_made_venv(shims, fresh_clone, tmp_path):
    """As root, `make setup` runs apt-get (mocked) first; a `python3 -m venv` that fails half-way leaves no .venv."""
    shims.uid(0)
    shims.apt(installs=True)
    fake_python = _script(
        tmp_path / "fake-python3",
        f'if [[ "$1 $2" == "-m venv" ]]; then echo "venv $3" >> {shims.calls}; mkdir -p "$3/bin"; exit 1; fi\n'
        f'exec {sys.executable} "$@"\n',
    )
    done, _ = _run([MAKE, "setup", f"PYTHON_BOOTSTRAP={fake_python}"], shims.env(), fresh_clone)
    assert done.returncode != 0
    assert shims.logged() == ["apt-get update -qq", "apt-get install -y -qq npm", "venv .venv"], shims.logged()
    assert not (fresh_clone / ".venv").exists(), "a failed venv was left behind"


def test_python_without_venv_support_names_python3_venv(shims, tmp_path):
    """Debian's python3 without python3-venv has no ensurepip: report the package instead of a half-made venv."""
    shims.uid(1000)
    no_ensurepip = _script(tmp_path / "py", f'[[ "$1" == -c ]] && exit 1\nexec {sys.executable} "$@"\n')
    shims.apt(installs=False)
    done, _ = _run([str(PREREQS), "venv"], shims.env(PYTHON_BOOTSTRAP=str(no_ensurepip)), tmp_path)
    assert done.returncode == 1
    assert "sudo apt-get install -y python3-venv\n" in done.stderr, done.stderr


def test_without_apt_it_names_the_packages_and_stops(shims, tmp_path):
    shims.uid(0)
    done, _ = _run([str(PREREQS), "npm", "chromium"], shims.env(), tmp_path)
    assert done.returncode == 1
    assert "no apt-get" in done.stderr and "npm chromium" in done.stderr


def test_nothing_missing_is_silent(shims, tmp_path):
    shims.uid(1000)
    done, _ = _run([str(PREREQS), "venv"], shims.env(), tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def _lab_command(shims, uid: int) -> str:
    shims.uid(uid)
    # -n prints the recipes without running them; $(shell id -u) still runs, and meets the fake id.
    env = {**os.environ, "PATH": f"{shims.path}{os.pathsep}{os.environ['PATH']}"}
    done, _ = _run([MAKE, "-n", "--no-print-directory", "lab"], env, REPO)
    assert done.returncode == 0, done.stderr
    joined = done.stdout.replace("\\\n", " ")  # a recipe's continued lines, as the shell reads them
    lines = [line for line in joined.splitlines() if "jupyter lab" in line]
    assert len(lines) == 1, done.stdout
    return lines[0]


@pytest.mark.parametrize("uid", [0, 1000])
def test_make_lab_allows_root_exactly_as_uid_0(shims, uid):
    command = _lab_command(shims, uid)
    assert ("--allow-root" in command.split()) == (uid == 0), command
    assert "--ip=127.0.0.1" in command.split(), command
