"""Byte identity: the public commands write exactly what the code that made tests/assets/golden wrote.

``tests/assets/golden/make_golden.py`` holds the cases (CLI calls through ``python -m cytoconv`` on the BALF
fixture and the vendored real samples) and the hashing; ``outputs.json`` holds the hashes it wrote with the
original code. Here the same cases run with the code under test and every file's hash is compared, so a
refactoring that changes one output byte (or pixel, or exit code, or printed line) fails, naming the files.
Regenerate ``outputs.json`` only when an output is meant to change, and say so in the commit.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

GOLDEN_DIR = Path(__file__).resolve().parent / "assets" / "golden"


def load_generator() -> ModuleType:
    """``make_golden.py`` imported by its path (it is a script beside its data, not a package module)."""
    spec = importlib.util.spec_from_file_location("cytoconv_make_golden", GOLDEN_DIR / "make_golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def differences(want: dict[str, dict[str, str]], got: dict[str, dict[str, str]]) -> list[str]:
    """One line per case and file whose hash differs, or that is missing or unexpected."""
    lines: list[str] = []
    for case in sorted(want.keys() | got.keys()):
        expected, actual = want.get(case, {}), got.get(case, {})
        for path in sorted(expected.keys() | actual.keys()):
            if path not in actual:
                lines.append(f"{case}: {path}: not written any more")
            elif path not in expected:
                lines.append(f"{case}: {path}: written, but not by the original code")
            elif expected[path] != actual[path]:
                lines.append(f"{case}: {path}: differs")
    return lines


def test_differences_names_changed_missing_and_new_files() -> None:
    """The report names every changed, vanished and new file, and nothing when all agree."""
    want = {"a": {"x.json": "1", "y.txt": "2"}, "b": {"z.png": "3"}}
    got = {"a": {"x.json": "1", "y.txt": "9", "new.txt": "4"}, "b": {}}
    assert differences(want, got) == [
        "a: new.txt: written, but not by the original code",
        "a: y.txt: differs",
        "b: z.png: not written any more",
    ]
    assert differences(want, want) == []


def test_outputs_are_identical_to_the_golden_hashes(tmp_path: Path) -> None:
    """Every case writes the files, pixels, exit codes and printed lines that the original code wrote."""
    generator = load_generator()
    want: dict[str, dict[str, str]] = json.loads(generator.GOLDEN.read_text(encoding="utf-8"))
    assert sorted(want) == sorted(generator.CASES), "outputs.json and make_golden.CASES name different cases"
    got: dict[str, dict[str, str]] = generator.run_cases(tmp_path)
    found = differences(want, got)
    shown = "\n".join(found[:60]) + (f"\n... and {len(found) - 60} more" if len(found) > 60 else "")
    assert not found, (
        f"{len(found)} output(s) differ from tests/assets/golden/outputs.json "
        f"(<step N> = that CLI call's exit code, stdout and stderr; outputs and logs in {tmp_path}):"
        f"\n{shown}"
    )
    assert sum(len(files) for files in got.values()) > 1000  # the cases did write their outputs
