"""The pre-commit hook, installed by the real ``pre-commit`` tool from a git copy of this repository.

pre-commit installs a hook repository at a commit, so the test commits a copy of the package (the working tree is
never touched, and its git is never run) and points a fresh dataset repository's ``.pre-commit-config.yaml`` at
it. pre-commit then builds its own virtualenv and pip-installs cytoconv into it, as a lab's machine would: the
first run takes a minute or two (dependencies come from pip's cache or index), hence one module-scoped setup.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, write

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A dataset repository with the cytoconv-validate hook installed from a committed copy of this one."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    base = tmp_path_factory.mktemp("hook")
    env = {
        **os.environ,
        **GIT_ENV,
        "PRE_COMMIT_HOME": str(base / "pre-commit-home"),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    env.pop("CYTOCONV_DEBUG", None)
    hooks = base / "cytoconv"
    shutil.copytree(
        ROOT / "cytoconv", hooks / "cytoconv", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy(ROOT / name, hooks / name)
    git(hooks, "init", "-q", env=env)
    git(hooks, "add", ".", env=env)
    git(hooks, "commit", "-q", "-m", "cytoconv", env=env)
    rev = git(hooks, "rev-parse", "HEAD", env=env).stdout.strip()
    repo = base / "lab"
    repo.mkdir()
    git(repo, "init", "-q", env=env)
    write(
        repo / ".pre-commit-config.yaml",
        f"repos:\n  - repo: {hooks}\n    rev: {rev}\n    hooks:\n      - id: cytoconv-validate\n",
    )
    write(repo / "data.yaml", "names: [red, white]\n")
    subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"], cwd=repo, env=env, check=True, capture_output=True
    )
    yield repo, env


def commit(repo: Path, env: dict[str, str], message: str) -> tuple[int, str]:
    """Exit status of ``git commit`` and everything it printed (the hook's output goes to either stream)."""
    git(repo, "add", "-A", env=env)
    done = subprocess.run(["git", "commit", "-m", message], cwd=repo, env=env, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def test_good_labels_pass_and_bad_ones_are_blocked(lab: tuple[Path, dict[str, str]]) -> None:
    repo, env = lab
    write(repo / "labels" / "train" / "a.txt", "0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.4 0.1 0.4 0.4 0.1 0.4\n")
    write(repo / "labels" / "classes.txt", "red\nwhite\n")  # excluded by the hook's pattern
    write(repo / "requirements.txt", "numpy>=1.24\n")  # not below labels/: never read as a label file
    write(repo / "package.json", '{"name": "lab-tools"}\n')  # JSON that is not COCO: skipped
    code, out = commit(repo, env, "good labels")
    assert code == 0, out
    assert "cytoconv validate" in out and "Passed" in out

    write(repo / "labels" / "train" / "b.txt", "0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.1\n")
    code, out = commit(repo, env, "bad labels")
    assert code != 0
    assert "Failed" in out
    assert "labels/train/b.txt:2: CC103 [error] odd number of coordinates (3)" in out
    log = git(repo, "log", "--format=%s", env=env).stdout.splitlines()
    assert log == ["good labels"]  # the bad commit did not land


def test_a_bad_coco_file_is_blocked_too(lab: tuple[Path, dict[str, str]]) -> None:
    repo, env = lab
    git(repo, "reset", "-q", "--hard", "HEAD", env=env)
    git(repo, "clean", "-qfd", env=env)
    write(
        repo / "annotations" / "instances_val.json",
        '{"images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10}], "categories": '
        '[{"id": 1, "name": "cell"}], "annotations": [{"id": 1, "image_id": 2, "category_id": 1, '
        '"bbox": [1, 1, 2, 2], "area": 4, "segmentation": [], "iscrowd": 0}]}\n',
    )
    code, out = commit(repo, env, "coco")
    assert code != 0
    assert "annotations/instances_val.json: CC605 [error] annotation 1: image id 2 is not in 'images'" in out
