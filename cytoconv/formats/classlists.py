"""Finding the class list of a label file: ``data.yaml`` (or ``dataset.yaml``) or ``classes.txt`` (or
``obj.names``), searched from the file's folder upward, the nearest first; at one level a YAML file wins over
a text list, as the YOLO reader does. The search stops at a repository root (a folder holding ``.git``).

The same names as ``cytoconv.formats.yolo.reader`` reads, without importing it: that module pulls in the pydantic
models, and this one runs on every pre-commit hook call.
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


def _yaml_names(path: Path) -> tuple[list[str] | None, str | None]:
    import yaml

    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot read ({exc})"
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return None, f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"
    names = data.get("names") if isinstance(data, dict) else None
    if names is None:
        return None, None
    if isinstance(names, list):
        return [str(n) for n in names], None
    if isinstance(names, dict):
        try:
            indexed = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            return None, "'names' keys must be class indices"
        if sorted(indexed) != list(range(len(indexed))):
            return None, f"'names' indices must be 0..{len(indexed) - 1}"
        return [indexed[i] for i in range(len(indexed))], None
    return None, "'names' must be a list or an {index: name} mapping"


def read_names(path: Path) -> tuple[list[str] | None, str | None]:
    """The names in one list file (YAML by suffix, else one name a line) and, if unusable, why."""
    if path.suffix in (".yaml", ".yml"):
        return _yaml_names(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot read ({exc})"
    return [line.strip() for line in text.splitlines() if line.strip()], None


class ClassFinder:
    """Looks class lists up per folder, each folder once (three label files in one folder: one lookup)."""

    def __init__(self) -> None:
        self._cache: dict[str, ClassList | None] = {}

    def for_file(self, path: str) -> ClassList | None:
        return self.for_folder(os.path.dirname(os.path.abspath(path)))

    def for_folder(self, folder: str) -> ClassList | None:
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
        for name in (*YAML_NAMES, *NAME_FILES):
            if name in entries:
                path = Path(folder, name)
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
