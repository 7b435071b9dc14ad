"""Running a validation: which files to check and with which checker, in one process or several, with
``--fix`` / ``--diff`` applied file by file.

Every format is checked by the checker module its registry entry names (``FormatInfo.checker``), which
provides ``claims(path)`` (is a file given alone mine?), ``single`` and ``discover`` (the tasks for a file or a
dataset folder), ``check(task, data, settings)``, ``TEXT`` (checked from bytes, so ``--fix`` applies) and
``CLASS_LIST`` (whether its tasks get the class list found near them), and optionally ``STREAMS`` (a text format
whose files may be too big to hold: checked from the file, ``data`` None, unless ``--fix`` or ``--diff`` needs
the bytes). There is no format name in this module.

Files given one by one (as pre-commit passes them) go to the first checker that claims them: ``.txt`` is
YOLO (class lists such as ``classes.txt`` excepted), ``.json`` is COCO when it looks like COCO, ``.xml`` is VOC
when its root is ``<annotation>``; anything else, and JSON or XML of another kind, is skipped (counted, never
a finding): a hook that matches ``*.json`` must not fail on ``package.json``. ``--from`` routes every file to
one checker, and then a file of the wrong kind is a finding. Folders are recognised by the format registry
(``cytoconv.formats.detect``), as ``convert`` recognises them, and bring the pairing checks (label without
image, image without label) that single files cannot have.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cytoconv.engine.classlists import ClassFinder, ClassList
from cytoconv.errors import UsageError
from cytoconv.problems.findings import CheckTask, FileResult, Finding, ValidationReport
from cytoconv.problems.settings import Settings

if TYPE_CHECKING:
    from cytoconv.formats import FormatInfo

PARALLEL_FROM = 200  # fewer tasks than this run in the calling process (forking costs more than it saves)


@dataclass
class Plan:
    """What planning found: the tasks to check, the findings of planning itself (pairing, class lists), and the
    files given that are not label files (skipped, counted, never a finding)."""

    tasks: list[CheckTask] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def checked_formats() -> dict[str, FormatInfo]:
    """The registry's formats that have a checker, in registry order (which is also the order in which they are
    asked whether they claim a file given alone)."""
    from cytoconv.formats import FORMATS

    return {name: info for name, info in FORMATS.items() if info.checker is not None}


def validate(
    paths: Sequence[str | Path],
    settings: Settings | None = None,
    fmt: str | None = None,
    mode: str = "check",
    jobs: int = 0,
) -> ValidationReport:
    """Check files and folders; never raises on bad data (bad data is what the report is for).

    ``mode``: ``check``, ``fix`` (apply the fixes, atomically, and report what remains) or ``diff`` (compute
    the fixes, write nothing; ``report.diffs`` holds unified diffs). ``fmt`` forces a format (registry name).
    A path that does not exist, an unknown format or a folder of no known format is a ``UsageError``."""
    settings = settings or Settings()
    if mode not in ("check", "fix", "diff"):
        raise UsageError(f"mode must be check, fix or diff, got {mode!r}")
    checked = checked_formats()
    if fmt is not None and fmt not in checked:
        from cytoconv.formats import lookup

        info, _ = lookup(fmt)
        if info.name not in checked:
            raise UsageError(f"validate does not check {info.name} datasets (it checks {', '.join(checked)})")
        fmt = info.name
    plan = Plan()
    finder = ClassFinder()
    names = ClassList(settings.names, settings.names_source) if settings.names is not None else None
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise UsageError(f"{given}: no such file or folder")
        if path.is_dir():
            _plan_folder(path, fmt, settings, plan)
        else:
            _plan_file(path, fmt, settings, plan)
    _class_lists(plan, settings, finder, names)
    report = ValidationReport(findings=list(plan.findings), skipped=plan.skipped, checked=len(plan.tasks))
    for result in _run(plan.tasks, settings, mode, jobs):
        report.add(result)
    return report


# ---------------------------------------------------------------------------------------------
# Planning


def _is_junk_path(path: Path) -> bool:
    from cytoconv.engine.files import JUNK_DIRS

    return path.name.startswith(".") or any(part in JUNK_DIRS for part in path.parts[:-1])


def _plan_file(path: Path, fmt: str | None, settings: Settings, plan: Plan) -> None:
    """A file given alone: the checker of ``fmt``, or the first checker that claims it (by name and a sniff of
    its start); a file nobody claims, or that its checker does not check (``classes.txt``), is skipped."""
    text = str(path)
    if _is_junk_path(path):
        plan.skipped.append(text)
        return
    checked = checked_formats()
    if fmt is None:
        fmt = next((name for name, info in checked.items() if info.check_module().claims(path)), None)
    task = checked[fmt].check_module().single(path, fmt, settings) if fmt is not None else None
    if task is None:
        plan.skipped.append(text)
    else:
        plan.tasks.append(task)


def _plan_folder(path: Path, fmt: str | None, settings: Settings, plan: Plan) -> None:
    """A dataset folder: its format as ``convert`` detects it, and what that format's checker plans."""
    checked = checked_formats()
    if fmt is None:
        from cytoconv.formats import detect

        fmt = detect(path).name
        if fmt not in checked:
            raise UsageError(f"{path}: a {fmt} dataset; validate checks {', '.join(checked)} (give --from)")
    tasks, findings = checked[fmt].check_module().discover(path, fmt, settings)
    plan.tasks += tasks
    plan.findings.extend(findings)


def _class_lists(plan: Plan, settings: Settings, finder: ClassFinder, names: ClassList | None) -> None:
    """Give every task of a format that checks class names (``CLASS_LIST``) its class list; say once per list
    file that it is unusable (CC203) and once per folder, where the format needs one, that none was found
    (CC204)."""
    told: set[str] = set()
    checked = checked_formats()
    for k, task in enumerate(plan.tasks):
        wants_list = checked[task.fmt].check_module().CLASS_LIST
        if wants_list is None:
            continue
        classes = names or finder.for_file(task.path)
        if classes is None and wants_list == "required":
            folder = os.path.dirname(task.path) or "."
            if folder not in told and settings.on("CC204"):
                told.add(folder)
                plan.findings.append(
                    settings.finding(
                        "CC204",
                        folder,
                        "no class list found (data.yaml or classes.txt here or above, or names in "
                        "[tool.cytoconv.validate]): class ids are not checked",
                    )
                )
        if classes is not None and classes.problem is not None:
            if classes.source not in told and settings.on("CC203"):
                told.add(str(classes.source))
                plan.findings.append(settings.finding("CC203", str(classes.source), classes.problem))
            classes = None
        plan.tasks[k] = CheckTask(task.fmt, task.path, classes)


# ---------------------------------------------------------------------------------------------
# Checking


def check_task(task: CheckTask, settings: Settings, mode: str = "check") -> FileResult:
    """One task's findings, from its format's checker; for text formats, with ``mode`` fix or diff, the fixes
    applied (in rounds, until nothing fixable is left: clipping two lines may make them duplicates) and
    written, or turned into a diff."""
    from cytoconv.formats import FORMATS

    checker = FORMATS[task.fmt].check_module()
    if not checker.TEXT or (mode == "check" and getattr(checker, "STREAMS", False)):
        return FileResult(task.path, checker.check(task, None, settings))
    try:
        with open(task.path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        found = (
            [settings.finding("CC001", task.path, f"cannot read: {exc.strerror or exc}")]
            if settings.on("CC001")
            else []
        )
        return FileResult(task.path, found)
    findings = checker.check(task, data, settings)
    if mode == "check" or not any(f.fix is not None for f in findings):
        return FileResult(task.path, findings)
    from cytoconv.validate import fix

    fixed: list[Finding] = []
    new = data
    for _ in range(5):
        todo = [f for f in findings if f.fix is not None]
        if not todo:
            break
        changed = fix.apply(new, [f.fix for f in todo if f.fix is not None])
        if changed == new:
            break
        fixed.extend(todo)
        new = changed
        findings = checker.check(task, new, settings)
    result = FileResult(task.path, findings, fixed)
    if new != data:
        if mode == "fix":
            fix.write(task.path, new)
        else:
            from cytoconv.validate.render import shown_path

            result.diff = fix.unified_diff(shown_path(task.path), data, new)
    return result


def _check_chunk(bounds: tuple[int, int]) -> list[FileResult]:
    """One chunk of tasks, in a worker (or in this process for small runs); only results worth keeping."""
    from cytoconv.engine.pool import STATE

    tasks: list[CheckTask] = STATE["tasks"]
    results = (check_task(tasks[k], STATE["settings"], STATE["mode"]) for k in range(*bounds))
    return [r for r in results if r.findings or r.fixed or r.diff]


def _run(tasks: list[CheckTask], settings: Settings, mode: str, jobs: int) -> Iterator[FileResult]:
    """Results in task order, over the engine's ordered pool when there are many tasks and more than one core."""
    from cytoconv.engine.pool import ordered_map

    state = {"tasks": tasks, "settings": settings, "mode": mode}
    for results in ordered_map(_check_chunk, len(tasks), state, jobs, serial_below=PARALLEL_FROM):
        yield from results
