"""Class lists: reading ``data.yaml`` (any YAML with ``names``) and ``classes.txt`` / ``obj.names``, and finding
the list of a label file, for the YOLO and VOC readers and for ``cytoconv validate`` alike.

A folder's list is ``data.yaml`` (or ``dataset.yaml``...), else any other ``*.yaml`` that has ``names``, else a
text list; a label file's list is its folder's, or the nearest one upward (the search stops at a repository root:
a folder holding ``.git``). Standard library and PyYAML only: this runs on every pre-commit call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

YAML_NAMES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")
NAME_FILES = ("classes.txt", "obj.names", "classes.names")


@dataclass(frozen=True)
class ClassList:
    """Class names and the file they came from; ``problem`` says why a list file could not be used."""

    names: tuple[str, ...] | None
    source: str | None
    problem: str | None = None


@dataclass(frozen=True)
class ListProblem:
    """Why a list file cannot be used, with its line when the parser gives one."""

    message: str
    line: int | None = None


def read_yaml(path: Path) -> tuple[Any, ListProblem | None]:
    """A YAML file's content, or why it cannot be read."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8-sig")), None
    except (OSError, UnicodeDecodeError) as exc:
        return None, ListProblem(f"cannot read ({exc})")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, ListProblem(
            f"not valid YAML: {getattr(exc, 'problem', exc)}", mark.line + 1 if mark is not None else None
        )


def names_of(data: Any) -> tuple[list[str] | None, ListProblem | None]:
    """The ``names`` of a parsed data.yaml (a list, or an ``{index: name}`` mapping), ``None`` when it has none."""
    names = data.get("names") if isinstance(data, dict) else None
    if names is None:
        return None, None
    if isinstance(names, list):
        return [str(n) for n in names], None
    if isinstance(names, dict):
        try:
            indexed = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            return None, ListProblem("'names' keys must be class indices")
        if sorted(indexed) != list(range(len(indexed))):
            return None, ListProblem(f"'names' indices must be 0..{len(indexed) - 1}, got {sorted(indexed)}")
        return [indexed[i] for i in range(len(indexed))], None
    return None, ListProblem("'names' must be a list or an {index: name} mapping")


def read_list(path: Path) -> tuple[list[str] | None, ListProblem | None]:
    """The names in one list file (YAML by suffix, else one name a line) and, if unusable, why."""
    if path.suffix in (".yaml", ".yml"):
        data, problem = read_yaml(path)
        return (None, problem) if problem is not None else names_of(data)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return None, ListProblem(f"cannot read ({exc})")
    return [line.strip() for line in text.splitlines() if line.strip()], None


def read_names(path: Path) -> tuple[list[str] | None, str | None]:
    """``read_list`` with the problem as one message (its line in the text)."""
    names, problem = read_list(path)
    if problem is None:
        return names, None
    return None, problem.message.replace(
        ":", f" at line {problem.line}:", 1
    ) if problem.line else problem.message


def yaml_list_in(folder: Path) -> Path | None:
    """The YAML class list of a folder: a data.yaml by its usual names, else the first other ``*.yaml`` that has
    ``names`` (Roboflow and others name theirs after the dataset)."""
    for name in YAML_NAMES:
        if (folder / name).is_file():
            return folder / name
    try:
        candidates = sorted(
            p
            for p in folder.iterdir()
            if p.suffix in (".yaml", ".yml") and p.name not in YAML_NAMES and not p.name.startswith(".")
        )
    except OSError:
        return None
    for candidate in candidates:
        data, problem = read_yaml(candidate)
        if problem is None and isinstance(data, dict) and "names" in data:
            return candidate
    return None


class ClassFinder:
    """Looks class lists up per folder, each folder once (three label files in one folder: one lookup)."""

    def __init__(self) -> None:
        self._cache: dict[str, ClassList | None] = {}

    def for_file(self, path: str) -> ClassList | None:
        """The class list that applies to a label file: the one found for its folder (see ``for_folder``)."""
        return self.for_folder(os.path.dirname(os.path.abspath(path)))

    def for_folder(self, folder: str) -> ClassList | None:
        """The nearest class list at or above ``folder``, not climbing past a git repository's root; cached
        per folder, misses included, so a tree of label files costs one lookup per folder."""
        if folder in self._cache:
            return self._cache[folder]
        found = self._here(folder)
        if found is None and not os.path.isdir(os.path.join(folder, ".git")):
            parent = os.path.dirname(folder)
            found = self.for_folder(parent) if parent != folder else None
        self._cache[folder] = found
        return found

    @staticmethod
    def _here(folder: str) -> ClassList | None:
        try:
            entries = set(os.listdir(folder))
        except OSError:
            return None
        if not any(e.endswith((".yaml", ".yml")) for e in entries) and not entries.intersection(NAME_FILES):
            return None
        candidates = [yaml_list_in(Path(folder)), *(Path(folder, n) for n in NAME_FILES if n in entries)]
        for path in (c for c in candidates if c is not None):
            names, problem = read_names(path)
            if problem is not None:
                return ClassList(None, _shown(path), problem)
            if names is not None:
                return ClassList(tuple(names), _shown(path))
        return None


def _shown(path: Path) -> str:
    """A list file's path for messages: relative to the working folder when it is below it."""
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel
