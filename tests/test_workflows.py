"""The GitHub Actions workflows: the test workflow runs the README's `make test`; the publish workflow builds the book
and deploys book/_build/html with the official Pages actions, minimal permissions and one deployment at a time; every
action is pinned to a full commit SHA; and the lint gate (`make lint`) rejects a broken workflow."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
BIN = Path(sys.executable).parent


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def test_every_action_is_pinned_to_a_commit_with_its_version():
    lines = [
        (path.name, line.split("uses:", 1)[1].strip())
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for line in path.read_text().splitlines()
        if "uses:" in line
    ]
    assert lines
    unpinned = [(name, ref) for name, ref in lines if not PINNED.match(ref)]
    assert not unpinned, f"actions not pinned as OWNER/NAME@<40-hex sha> # vX.Y.Z: {unpinned}"


def test_test_workflow_runs_make_test_on_python_311():
    workflow = load("test.yml")
    assert set(workflow[True]) >= {"push", "pull_request"}  # YAML 1.1 reads the key `on` as True
    assert workflow["permissions"] == {"contents": "read"}
    (job,) = workflow["jobs"].values()
    setup = [s for s in steps(job) if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup and setup[0]["with"]["python-version"] == "3.11"
    assert any(s.get("run") == "make test" for s in steps(job))


def test_publish_workflow_builds_and_deploys_with_minimal_permissions():
    workflow = load("publish.yml")
    assert workflow[True]["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {}
    assert workflow["concurrency"]["group"] and workflow["concurrency"]["cancel-in-progress"] is False
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert build["permissions"] == {"contents": "read"}
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert any(s.get("run") == "make book" for s in steps(build))
    upload = [s for s in steps(build) if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload and upload[0]["with"]["path"] == "book/_build/html"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in steps(deploy))


@pytest.mark.parametrize(
    ("tool", "old", "new"),
    [
        ("actionlint", "needs: build", "needs: biuld"),  # a job graph that does not exist
        ("zizmor", "run: make book", 'run: echo "${{ github.event.head_commit.message }}"'),  # script injection
    ],
)
def test_lint_rejects_a_broken_workflow(tmp_path, tool, old, new):
    """The commands of `make lint` pass on the workflows and fail on a copy broken on purpose."""
    exe = BIN / tool
    if not exe.exists() and shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (pip install -e '.[test]')")
    command = {
        "actionlint": [str(exe), "-shellcheck=", "-pyflakes="],
        "zizmor": [str(exe), "--offline", "--no-progress", "--quiet"],
    }[tool]
    good = subprocess.run([*command, str(WORKFLOWS / "publish.yml")], capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    text = (WORKFLOWS / "publish.yml").read_text()
    assert old in text
    broken = tmp_path / "publish.yml"
    broken.write_text(text.replace(old, new))
    bad = subprocess.run([*command, str(broken)], capture_output=True, text=True)
    assert bad.returncode != 0, f"{tool} accepted a broken workflow:\n{bad.stdout}{bad.stderr}"
