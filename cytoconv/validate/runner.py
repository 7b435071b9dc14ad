"""Running a validation: which files to check and with which checker, in one process or several, with
``--fix`` / ``--diff`` applied file by file.

Files given one by one (as pre-commit passes them) are routed by name and a sniff of their start: ``.txt`` is
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
from typing import Any

from cytoconv.engine.classlists import ClassFinder, ClassList
from cytoconv.errors import UsageError
from cytoconv.problems.findings import FileResult, Finding, ValidationReport
from cytoconv.problems.settings import Settings

TEXT_KINDS = ("yolo", "coco", "voc")
FORMAT_KINDS = {
    "yolo": "yolo",
    "coco": "coco",
    "voc": "voc",
    "masks": "mask",
    "instance-masks": "mask",
    "object-masks": "mask",
    "folders": "image",
}
PARALLEL_FROM = 200  # fewer tasks than this run in the calling process (forking costs more than it saves)


@dataclass(frozen=True)
class Task:
    """One unit of checking: a label file (yolo, coco, voc), a mask (with its image) or an image."""

    kind: str
    path: str
    context: Any = None  # yolo, voc: ClassList | None; coco: pairing (bool); mask: masks.MaskTask


@dataclass
class Plan:
    tasks: list[Task] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


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
    if fmt is not None and fmt not in FORMAT_KINDS:
        from cytoconv.formats import lookup

        info, _ = lookup(fmt)
        if info.name not in FORMAT_KINDS:
            raise UsageError(
                f"validate does not check {info.name} datasets (it checks {', '.join(FORMAT_KINDS)})"
            )
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
    name, text = path.name, str(path)
    if _is_junk_path(path):
        plan.skipped.append(text)
        return
    kind = FORMAT_KINDS[fmt] if fmt is not None else _kind_of_file(path)
    if kind is None:
        plan.skipped.append(text)
    elif kind == "yolo":
        from cytoconv.formats.yolo.check import is_list_file

        if is_list_file(name):
            plan.skipped.append(text)
        else:
            plan.tasks.append(Task("yolo", text))
    elif kind == "mask":
        from cytoconv.formats.masks import check as masks

        sub = {"instance-masks": masks.INSTANCE, "object-masks": masks.OBJECT}.get(fmt or "", masks.SEMANTIC)
        plan.tasks.append(Task("mask", text, masks.single(path, sub, settings)))
    else:
        plan.tasks.append(Task(kind, text, False if kind == "coco" else None))


def _kind_of_file(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return "yolo"
    if suffix == ".json":
        from cytoconv.formats.coco.check import looks_like_coco

        return "coco" if looks_like_coco(str(path)) else None
    if suffix == ".xml":
        from cytoconv.formats.voc.check import looks_like_voc

        return "voc" if looks_like_voc(str(path)) else None
    return None


def _plan_folder(path: Path, fmt: str | None, settings: Settings, plan: Plan) -> None:
    if fmt is None:
        from cytoconv.formats import detect

        fmt = detect(path).name
        if fmt not in FORMAT_KINDS:
            raise UsageError(
                f"{path}: a {fmt} dataset; validate checks {', '.join(FORMAT_KINDS)} (give --from)"
            )
    if fmt == "yolo":
        from cytoconv.formats.yolo import check as yolo

        labels, findings = yolo.pair(path, settings)
        plan.tasks += [Task("yolo", f) for f in labels]
    elif fmt == "coco":
        from cytoconv.formats.coco import check as coco

        files, findings = coco.discover(path, settings)
        plan.tasks += [Task("coco", f, True) for f in files]
    elif fmt == "voc":
        from cytoconv.formats.voc import check as voc

        files, findings = voc.discover(path, settings)
        plan.tasks += [Task("voc", f) for f in files]
    elif fmt == "folders":
        from cytoconv.formats.folders import check as folders

        files, findings = folders.discover(path, settings)
        plan.tasks += [Task("image", f) for f in files]
    else:
        from cytoconv.formats.masks import check as masks

        kind = {"instance-masks": masks.INSTANCE, "object-masks": masks.OBJECT}.get(fmt, masks.SEMANTIC)
        mask_tasks, findings = masks.discover(path, kind, settings)
        plan.tasks += [Task("mask", t.masks[0] if t.masks else (t.image or str(path)), t) for t in mask_tasks]
    plan.findings.extend(findings)


def _class_lists(plan: Plan, settings: Settings, finder: ClassFinder, names: ClassList | None) -> None:
    """Give every YOLO and VOC task its class list; say once per list file that it is unusable (CC203) and once
    per folder of YOLO labels that no list was found (CC204)."""
    told: set[str] = set()
    for k, task in enumerate(plan.tasks):
        if task.kind not in ("yolo", "voc"):
            continue
        classes = names or finder.for_file(task.path)
        if classes is None and task.kind == "yolo":
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
        plan.tasks[k] = Task(task.kind, task.path, classes if task.kind in ("yolo", "voc") else task.context)


# ---------------------------------------------------------------------------------------------
# Checking


def _check_bytes(task: Task, data: bytes, settings: Settings) -> list[Finding]:
    if task.kind == "yolo":
        from cytoconv.formats.yolo.check import check_bytes

        return check_bytes(data, task.path, task.context, settings)
    if task.kind == "coco":
        from cytoconv.formats.coco.check import check_bytes as check_coco

        return check_coco(data, task.path, settings, pairing=bool(task.context))
    from cytoconv.formats.voc.check import check_bytes as check_voc

    return check_voc(data, task.path, settings, task.context)


def check_task(task: Task, settings: Settings, mode: str = "check") -> FileResult:
    """One task's findings; with ``mode`` fix or diff, the fixes applied (in rounds, until nothing fixable is
    left: clipping two lines may make them duplicates) and written, or turned into a diff."""
    if task.kind == "mask":
        from cytoconv.formats.masks.check import check

        return FileResult(task.path, check(task.context, settings))
    if task.kind == "image":
        from cytoconv.formats.folders.check import check_image

        return FileResult(task.path, check_image(task.path, settings))
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
    findings = _check_bytes(task, data, settings)
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
        findings = _check_bytes(task, new, settings)
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

    tasks: list[Task] = STATE["tasks"]
    results = (check_task(tasks[k], STATE["settings"], STATE["mode"]) for k in range(*bounds))
    return [r for r in results if r.findings or r.fixed or r.diff]


def _run(tasks: list[Task], settings: Settings, mode: str, jobs: int) -> Iterator[FileResult]:
    """Results in task order, over the engine's ordered pool when there are many tasks and more than one core."""
    from cytoconv.engine.pool import ordered_map

    state = {"tasks": tasks, "settings": settings, "mode": mode}
    for results in ordered_map(_check_chunk, len(tasks), state, jobs, serial_below=PARALLEL_FROM):
        yield from results
