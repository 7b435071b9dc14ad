"""Throughput of cytoconv beside the plain-Python "floor" converters, measured in the same run.

A benchmark, not a test: it prints a markdown table and exits 0 whatever the figures are (1 only when a
command fails, so that a broken build is not mistaken for a slow one).  Ratios to the floor measured in
the same run are the figures to compare; absolute seconds drift with the (shared, noisy) machine.  Each
command runs --reps times, alternating with its floor, and the table gives the MINIMUM wall and CPU time
over the reps (the least disturbed run of a shared machine) and the LARGEST memory peak (a memory target
is about the worst run).  Memory is given twice: summed over the process tree, and of the largest single
process (the issue-18 targets, "peak memory under 1 GB in every process", are about the latter).

  T0  `cytoconv --version` start-up, min of >= 5 runs            target < 0.15 s
  T1  YOLO polygons -> COCO on balf_small / balf_large           target <= 0.4 x floor on balf_large,
                                                                         peak memory (tree) < 1 GiB
  T2  COCO -> YOLO polygons on balf_small / balf_large           target <= 1.0 x floor on balf_small;
      (balf_large_coco: 50,000 images, 388 MB)                           <= 0.4 x floor and per-process
                                                                         peak < 1 GiB on balf_large
  T3  YOLO boxes -> Pascal VOC on balf_small_bbox                target <= 2.0 x floor
  T4  semantic masks (wbc_10k) -> COCO polygons, exact, holes   target <= 0.8 x the pycocotools RLE floor
      kept (and -> COCO RLE)                                      (pycoco_drive.py t4), 2 processes
  T5  class folders (folders_17k) -> manifest JSON with sizes    target <= 1.5 x floor (floor.py t5 --sizes)
  T6  resample a COCO file (balf_small/balf_large) to 4912x3684  target <= 1.5 x the same COCO -> COCO
                                                                          without resampling; on
                                                                          balf_large also per-process
                                                                          peak < 1 GiB
  T7  cytoconv stats on balf_small/balf_large (YOLO)             reported beside floor.py t1 (datum stats:
                                                                          37 s on balf_large, RESULTS.md)
  T8  points-txt (Chula-sized: 738 images, 22,106 points)         reported beside points_floor.py t8
      -> COCO keypoints
  T9  crop a 100x100 window around every point (same set)        reported beside points_floor.py t9
  T10 diff of balf_<set>_coco and a copy with known edits         target < 2.0 x reading both (the "floor":
      (benchmarks/diff_edits.py; exit status 1 expected)                  cytoconv stats of A, then of B)
  T11 a LIVECell-sized COCO file (~2 GB, ~2.8 million polygons,  target: per-process peak < 2.5 GiB;
      annotations as an object keyed by id; benchmarks/              wall time and annotations/s reported.
      gen_livecell.py, made on first use in <data>/livecell_2gb)     No floor: loading the whole document
      -> YOLO                                                        in plain Python peaks near 10x the
                                                                     file (measured 1.96 GB for 0.2 GB)

  python benchmarks/bench.py                                    # T0,T1,T2 on balf_small, 3 reps
  python benchmarks/bench.py --tasks T3,T5 --reps 5             # the VOC and class-folder targets
  python benchmarks/bench.py --sets small,large --reps 3        # balf_large: ~1 min per run
  python benchmarks/bench.py --data /tmp/bench/data --reps 1 --tasks T1
  python benchmarks/bench.py --tasks T2,T6 --sets large              # the 1 GiB per-process targets
  python benchmarks/bench.py --tasks T11 --reps 1                    # --livecell-gb 0.2 for a quick one
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

psutil: Any
try:  # optional: the process-tree memory poll falls back to /proc, then to /usr/bin/time
    psutil = importlib.import_module("psutil")
except ImportError:  # pragma: no cover - depends on the environment
    psutil = None

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "bench"
DIFF_EDITS = Path(__file__).resolve().parent / "diff_edits.py"  # T10: the edited copy of a COCO set
GEN_LIVECELL = Path(__file__).resolve().parent / "gen_livecell.py"  # T11: the LIVECell-sized COCO file
LIVECELL_FILE = "livecell_coco_train.json"
DEFAULT_DATA = Path(os.environ.get("CYTOCONV_BENCH_DATA", "/tmp/cytoconv-bench-data"))
TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
POLL_S = 0.05
T0_MIN_RUNS = 5
GIB = 1 << 30
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class BalfSet:
    """A generated BALF-like set; the counts are fixed by gen_balf's seed, so throughput needs no re-count."""

    key: str
    name: str
    images: int
    cells: int


SETS = {
    "small": BalfSet("small", "balf_small", 2_105, 13_263),
    "large": BalfSet("large", "balf_large", 50_000, 315_036),
}
FOLDERS = BalfSet("folders", "folders_17k", 17_092, 0)  # 8 class folders of PBC-like JPEGs; no cells
WBC = BalfSet("wbc", "wbc_10k", 10_000, 20_000)
POINTS = BalfSet("points", "chula_sized", 738, 22_106)  # benchmarks/points_floor.py gen: Dataset/ + Label/
POINTS_FLOOR = (
    Path(__file__).resolve().parent / "points_floor.py"
)  # 300x300 masks: one cytoplasm ring + one nucleus each


@dataclass(frozen=True)
class Job:
    """One command line of a (task, set) group; "{out}" stands for the run's fresh output folder."""

    tool: str
    argv: list[str]
    output: str  # path under {out} that must exist afterwards: a run that writes nothing is no result


Check = Callable[["Stats", "Stats | None"], bool]  # (cytoconv, its floor or None) -> pass


def faster(ratio: float, peak: int | None = None) -> Check:
    """Wall time at most ``ratio`` x the floor's and, when given, the largest process below ``peak``."""
    return lambda c, f: f is not None and c.wall <= ratio * f.wall and (peak is None or c.proc_rss < peak)


def tree_below(peak: int) -> Check:
    """The process tree's summed peak below ``peak`` (whatever the floor did)."""
    return lambda c, _f: c.rss < peak


def process_below(peak: int) -> Check:
    """Every single process's peak below ``peak`` (whatever the floor did)."""
    return lambda c, _f: c.proc_rss < peak


@dataclass
class Group:
    """The tools timed against each other: their runs are interleaved round-robin so noise hits all alike."""

    task: str
    balf: BalfSet | None
    jobs: list[Job]
    warm: list[Path]  # inputs read once beforehand, so that no tool pays for a cold page cache
    runs: int
    target: str
    check: Check | None  # None: no target
    no_floor: str | None = None  # why the group has no floor job (the report says so); None: it has one


@dataclass
class Run:
    wall: float
    cpu: float
    rss: int  # bytes, the process tree's summed peak
    proc_rss: int  # bytes, the peak of the largest single process of the tree


@dataclass
class Stats:
    tool: str
    runs: list[Run] = field(default_factory=list)
    error: str | None = None

    @property
    def wall(self) -> float:
        """The minimum over the reps: noise on a shared machine only ever adds time."""
        return min(r.wall for r in self.runs)

    @property
    def cpu(self) -> float:
        """The minimum over the reps, as for the wall time."""
        return min(r.cpu for r in self.runs)

    @property
    def rss(self) -> int:
        """The tree's largest summed peak over the reps: a memory target is about the worst run."""
        return max(r.rss for r in self.runs)

    @property
    def proc_rss(self) -> int:
        """The largest single-process peak over the reps (issue 18: "under 1 GB in every process")."""
        return max(r.proc_rss for r in self.runs)


class CommandFailed(Exception):
    """A timed command exited non-zero or wrote nothing; carries what the report prints."""


# --------------------------------------------------------------------------------------------------------
# Memory of a process tree: cytoconv forks worker processes, whose memory the parent's peak does not show.


def _proc_tree_rss(root: int, include_root: bool) -> tuple[int, int]:
    """Summed and largest RSS of root's descendants from /proc (Linux), for when psutil is missing."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # gone since the listing
            continue
        fields = stat.rpartition(b")")[2].split()  # after "pid (comm)", which may hold spaces
        pid = int(name)
        parent[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * PAGE
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    sizes = [rss.get(root, 0)] if include_root else []
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        sizes.append(rss.get(pid, 0))
        todo.extend(children.get(pid, ()))
    return sum(sizes), max(sizes, default=0)


def _psutil_tree_rss(root: int, include_root: bool) -> tuple[int, int]:
    """Summed and largest RSS of root's descendants via psutil."""
    assert psutil is not None
    try:
        top = psutil.Process(root)
        procs = [*([top] if include_root else []), *top.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    sizes = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):  # exited between listing and reading
            sizes.append(proc.memory_info().rss)
    return sum(sizes), max(sizes, default=0)


Sampler = Callable[[int, bool], tuple[int, int]]  # (root pid, count the root) -> (summed, largest) RSS


def tree_sampler() -> tuple[Sampler | None, str]:
    """The best available way to measure a process tree's RSS, and how the report should describe it."""
    if psutil is not None:
        return (
            _psutil_tree_rss,
            "summed over the process tree and of its largest process (psutil, every 50 ms)",
        )
    if os.path.isfile("/proc/self/stat"):
        return _proc_tree_rss, (
            "summed over the process tree and of its largest process (/proc, every 50 ms; psutil not installed)"
        )
    return None, "of the largest single process only (/usr/bin/time or getrusage): workers are not summed"


class PeakPoller:
    """Samples a tree's RSS every 50 ms in a thread while the main thread waits on the process.

    Keeps two peaks: of the sum over the tree (what the machine must hold) and of the largest single
    process at any sample (what a per-process limit is about).
    """

    def __init__(self, sample: Sampler, root: int, include_root: bool) -> None:
        self.sample, self.root, self.include_root = sample, root, include_root
        self.peak = self.proc_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            with contextlib.suppress(OSError, ValueError, IndexError):  # a racing /proc read: next one
                total, largest = self.sample(self.root, self.include_root)
                self.peak, self.proc_peak = max(self.peak, total), max(self.proc_peak, largest)
            if self._stop.wait(POLL_S):
                return

    def stop(self) -> tuple[int, int]:
        """The summed and the single-process peaks seen."""
        self._stop.set()
        self._thread.join()
        return self.peak, self.proc_peak


# --------------------------------------------------------------------------------------------------------
# Running one command


def run_once(job: Job, scratch: Path, sample: Sampler | None) -> Run:
    """Time one whole process in a fresh, empty output folder on tmpfs, deleted afterwards.

    Wall time comes from perf_counter around the process (10 ms resolution of /usr/bin/time's %e is too
    coarse for T0); CPU and the single-process peak from /usr/bin/time, else from getrusage deltas.
    /usr/bin/time's %M is the kernel's high-water mark of the largest process it reaped (the command and
    the workers it waited for), exact where the 50 ms poll may miss a spike; the poll gives the sum.
    """
    out = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    time_file = scratch / (out.name + ".time")  # beside, not in, the output folder: that stays empty
    argv = [a.replace("{out}", str(out)) for a in job.argv]
    cmd = [TIME_BIN, "-f", "%e %U %S %M", "-o", str(time_file), *argv] if TIME_BIN else argv
    try:
        with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty command cannot block
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            poller = PeakPoller(sample, proc.pid, include_root=TIME_BIN is None) if sample else None
            code = proc.wait()
            wall = time.perf_counter() - start
            tree_peak, proc_peak = poller.stop() if poller else (0, 0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if code != 0:
                raise CommandFailed(f"{shlex.join(argv)}\nexit status {code}\n{_read(err).rstrip()}")
        if not (out / job.output).exists():
            raise CommandFailed(f"{shlex.join(argv)}\nexit status 0 but {job.output} was not written")
        if TIME_BIN:
            user, system, max_kib = _parse_time(time_file)
            cpu, single_peak = user + system, max_kib * 1024
        else:
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            # ru_maxrss of RUSAGE_CHILDREN is a lifetime maximum: it only says something when it grew
            single_peak = after.ru_maxrss * 1024 if after.ru_maxrss > before.ru_maxrss else 0
        # a 50 ms poll can miss a short spike that the kernel's own maximum caught
        return Run(wall, cpu, max(tree_peak, single_peak), max(proc_peak, single_peak))
    finally:
        shutil.rmtree(out, ignore_errors=True)
        time_file.unlink(missing_ok=True)


def _read(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode(errors="replace")


def _parse_time(path: Path) -> tuple[float, float, int]:
    """User s, system s, max RSS KiB: the last line of the -o file (status messages may come before it)."""
    line = [ln for ln in path.read_text().splitlines() if ln.strip()][-1]
    _elapsed, user, system, max_kib = line.split()
    return float(user), float(system), int(max_kib)


def warm_cache(paths: Iterable[Path]) -> None:
    """Read every input file once, so the first tool of a group does not pay for a cold page cache."""
    for path in paths:
        files = [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file())
        for file in files:
            with open(file, "rb") as f:
                while f.read(1 << 20):
                    pass


# --------------------------------------------------------------------------------------------------------
# Data


def ensure_set(balf: BalfSet, data: Path, gen: Path, python: str) -> None:
    """Generate a missing set; gen_balf writes its summary last, so its presence means complete."""
    out = data / balf.name
    if balf is POINTS:
        if (out / "gen_summary.json").is_file():
            return
        cmd = [python, str(POINTS_FLOOR), "gen", str(out)]
    elif balf is FOLDERS:
        if (data / f"{balf.name}.summary.json").is_file():
            return
        cmd = [python, str(gen), "folders", "--out", str(out)]
    elif balf is WBC:
        if (out / "gen_summary.json").is_file():
            return
        cmd = [python, str(gen), "wbc", "--n", str(balf.images), "--out", str(out)]
    elif all(
        (data / f"{balf.name}{suffix}" / "gen_summary.json").is_file() for suffix in ("", "_coco", "_bbox")
    ):
        return
    else:
        cmd = [python, str(gen), "balf", "--n", str(balf.images), "--out", str(out)]
    print(f"generating {out} ({balf.images:,} images) ...", file=sys.stderr, flush=True)
    data.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CommandFailed(f"{shlex.join(cmd)}: exit status {done.returncode}\n{done.stderr.rstrip()}")


def ensure_edited(coco: Path, out: Path, python: str) -> Path:
    """T10's B: ``coco`` with the known edits of benchmarks/diff_edits.py (expected.json written last)."""
    dest = out / "annotations" / "instances_train.json"
    if (out / "expected.json").is_file():
        return dest
    cmd = [python, str(DIFF_EDITS), str(coco), str(dest), "--expected", str(out / "expected.json")]
    print(f"writing {dest} (known edits) ...", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CommandFailed(f"{shlex.join(cmd)}: exit status {done.returncode}\n{done.stderr.rstrip()}")
    return dest


def livecell_folder(data: Path, size_gb: float) -> Path:
    """Where T11's file of ``size_gb`` lives: <data>/livecell_2gb for the default 2.0."""
    return data / f"livecell_{size_gb:g}gb"


def ensure_livecell(data: Path, size_gb: float, python: str) -> BalfSet:
    """T11's LIVECell-sized COCO file, generated when missing; its counts from the generator's summary.

    gen_livecell.py writes the JSON under a temporary name, renames it, and only then writes
    gen_summary.json (also renamed into place): the summary's presence means the file is whole.
    """
    folder = livecell_folder(data, size_gb)
    summary = folder / "gen_summary.json"
    if not (summary.is_file() and (folder / LIVECELL_FILE).is_file()):
        cmd = [
            python,
            str(GEN_LIVECELL),
            "--out",
            str(folder / LIVECELL_FILE),
            "--size-gb",
            f"{size_gb:g}",
            "--summary",
            str(summary),
        ]
        print(f"generating {folder / LIVECELL_FILE} ({size_gb:g} GB) ...", file=sys.stderr, flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CommandFailed(f"{shlex.join(cmd)}: exit status {done.returncode}\n{done.stderr.rstrip()}")
    counts = json.loads(summary.read_text())
    return BalfSet("livecell", folder.name, int(counts["images"]), int(counts["annotations"]))


def build_groups(
    tasks: list[str],
    sets: list[BalfSet],
    data: Path,
    floor: Path,
    python: str,
    cytoconv: str,
    reps: int,
    livecell: BalfSet | None = None,
) -> list[Group]:
    """The (task, set) groups to time, each cytoconv beside its floor (T11: alone)."""
    fl = [python, str(floor)]
    groups: list[Group] = []
    if "T0" in tasks:
        groups.append(
            Group(
                "T0",
                None,
                [
                    Job("floor", [python, "-c", "import orjson, PIL.Image"], "."),
                    Job("cytoconv", [cytoconv, "--version"], "."),
                ],
                [],
                max(reps, T0_MIN_RUNS),
                "< 0.15 s",
                lambda c, _f: c.wall < 0.15,
            )
        )
    if "T1" in tasks:
        for balf in sets:
            src = data / balf.name
            large = balf.key == "large"
            groups.append(
                Group(
                    "T1",
                    balf,
                    [
                        Job("floor", [*fl, "t1", str(src), "{out}/floor.json"], "floor.json"),
                        Job(
                            "cytoconv",
                            [
                                cytoconv,
                                "convert",
                                "--from",
                                "yolo",
                                "--to",
                                "coco",
                                str(src),
                                "{out}/coco.json",
                                "-q",
                            ],
                            "coco.json",
                        ),
                    ],
                    [src],
                    reps,
                    "<= 0.4x floor, tree peak < 1 GiB" if large else "tree peak < 1 GiB (0.4x: on large)",
                    (lambda c, f: faster(0.4)(c, f) and c.rss < GIB) if large else tree_below(GIB),
                )
            )
    if "T2" in tasks:
        for balf in sets:
            coco = data / f"{balf.name}_coco" / "annotations" / "instances_train.json"
            large = balf.key == "large"
            groups.append(
                Group(
                    "T2",
                    balf,
                    [
                        Job("floor", [*fl, "t2", str(coco), "{out}/floor_labels"], "floor_labels"),
                        Job(
                            "cytoconv",
                            [
                                cytoconv,
                                "convert",
                                "--from",
                                "coco",
                                "--to",
                                "yolo-seg",
                                str(coco),
                                "{out}/labels",
                                "-q",
                            ],
                            "labels",
                        ),
                    ],
                    [data / f"{balf.name}_coco"],
                    reps,
                    "<= 0.4x floor, per-process peak < 1 GiB" if large else "<= 1.0x floor",
                    faster(0.4, GIB) if large else faster(1.0),
                )
            )
    if "T3" in tasks:
        bbox = data / "balf_small_bbox"
        groups.append(
            Group(
                "T3",
                SETS["small"],
                [
                    Job("floor", [*fl, "t3", str(bbox), "{out}/floor_voc"], "floor_voc"),
                    Job(
                        "cytoconv",
                        [cytoconv, "convert", "--from", "yolo", "--to", "voc", str(bbox), "{out}/voc", "-q"],
                        "voc/Annotations",
                    ),
                ],
                [bbox],
                reps,
                "<= 2.0x floor",
                faster(2.0),
            )
        )
    if "T4" in tasks:
        wbc = data / WBC.name
        pycoco = [python, str(floor.parent / "pycoco_drive.py")]
        for seg in ("polygon", "rle"):
            groups.append(
                Group(
                    "T4" if seg == "polygon" else "T4 rle",
                    WBC,
                    [
                        Job("floor", [*pycoco, "t4", str(wbc), "{out}/floor.json"], "floor.json"),
                        Job(
                            "cytoconv",
                            [
                                cytoconv,
                                "convert",
                                "--from",
                                "masks",
                                "--to",
                                "coco",
                                str(wbc),
                                "{out}/c.json",
                                "--classes",
                                "wbc",
                                "--segmentation",
                                seg,
                                "-j",
                                "2",
                                "-q",
                            ],
                            "c.json",
                        ),
                    ],
                    [wbc / "masks"],
                    reps,
                    "<= 0.8x floor",
                    faster(0.8),
                )
            )
    if "T6" in tasks:
        for balf in sets:
            coco = data / f"{balf.name}_coco" / "annotations" / "instances_train.json"
            large = balf.key == "large"
            groups.append(
                Group(
                    "T6",
                    balf,
                    [
                        Job(
                            "floor",
                            [
                                cytoconv,
                                "convert",
                                "--from",
                                "coco",
                                "--to",
                                "coco",
                                str(coco),
                                "{out}/same.json",
                                "-q",
                            ],
                            "same.json",
                        ),
                        Job(
                            "cytoconv",
                            [
                                cytoconv,
                                "resample",
                                "--from",
                                "coco",
                                str(coco),
                                "{out}/big.json",
                                "--to-size",
                                "4912x3684",
                                "-q",
                            ],
                            "big.json",
                        ),
                    ],
                    [coco],
                    reps,
                    "<= 1.5x COCO -> COCO" + (", per-process peak < 1 GiB" if large else ""),
                    faster(1.5, GIB if large else None),
                )
            )
    if "T7" in tasks:
        for balf in sets:
            src = data / balf.name
            groups.append(
                Group(
                    "T7",
                    balf,
                    [
                        Job("floor", [*fl, "t1", str(src), "{out}/floor.json"], "floor.json"),
                        Job("cytoconv", [cytoconv, "stats", str(src), "--json", "-q"], "."),
                    ],
                    [src],
                    reps,
                    "tree peak < 1 GiB",
                    tree_below(GIB),
                )
            )
    points = data / POINTS.name
    if "T8" in tasks:
        groups.append(
            Group(
                "T8",
                POINTS,
                [
                    Job("floor", [python, str(POINTS_FLOOR), "t8", str(points), "{out}/f.json"], "f.json"),
                    Job(
                        "cytoconv", [cytoconv, "points-txt2coco", str(points), "{out}/c.json", "-q"], "c.json"
                    ),
                ],
                [points],
                reps,
                "-",
                None,
            )
        )
    if "T9" in tasks:
        groups.append(
            Group(
                "T9",
                POINTS,
                [
                    Job("floor", [python, str(POINTS_FLOOR), "t9", str(points), "{out}/f"], "f"),
                    Job(
                        "cytoconv", [cytoconv, "crop", str(points), "{out}/c", "--size", "100x100", "-q"], "c"
                    ),
                ],
                [points],
                reps,
                "-",
                None,
            )
        )
    if "T10" in tasks:
        for balf in sets:
            a = data / f"{balf.name}_coco" / "annotations" / "instances_train.json"
            b = ensure_edited(a, data / f"{balf.name}_coco_edited", python)
            both = f"{shlex.quote(cytoconv)} stats {shlex.quote(str(a))} --json -q > /dev/null && "
            both += f"{shlex.quote(cytoconv)} stats {shlex.quote(str(b))} --json -q > /dev/null"
            # diff exits 1 when the sets differ, as they do here: that is the expected outcome, not a failure
            differ = f"{shlex.quote(cytoconv)} diff {shlex.quote(str(a))} {shlex.quote(str(b))} --json -q "
            differ += '> "$1/diff.json"; test $? -eq 1'
            groups.append(
                Group(
                    "T10",
                    balf,
                    [
                        Job("floor", ["sh", "-c", both], "."),
                        Job("cytoconv", ["sh", "-c", differ, "sh", "{out}"], "diff.json"),
                    ],
                    [a, b],
                    reps,
                    "< 2.0x reading both",
                    lambda c, f: f is not None and c.wall < 2.0 * f.wall,
                )
            )
    if "T5" in tasks:
        root = data / FOLDERS.name
        groups.append(
            Group(
                "T5",
                FOLDERS,
                [
                    Job("floor", [*fl, "t5", str(root), "{out}/floor.json", "--sizes"], "floor.json"),
                    Job(
                        "cytoconv",
                        [
                            cytoconv,
                            "convert",
                            "--from",
                            "folders",
                            "--to",
                            "manifest",
                            str(root),
                            "{out}/manifest.json",
                            "-q",
                        ],
                        "manifest.json",
                    ),
                ],
                [root],
                reps,
                "<= 1.5x floor",
                faster(1.5),
            )
        )
    if "T11" in tasks and livecell is not None:
        big = data / livecell.name / LIVECELL_FILE
        groups.append(
            Group(
                "T11",
                livecell,
                [
                    Job(
                        "cytoconv",
                        [
                            cytoconv,
                            "convert",
                            "--from",
                            "coco",
                            "--to",
                            "yolo",
                            str(big),
                            "{out}/labels",
                            "-q",
                        ],
                        "labels",
                    )
                ],
                [big],
                reps,
                "per-process peak < 2.5 GiB",
                process_below(5 * GIB // 2),
                no_floor=(
                    "cytoconv alone: a plain-Python floor (orjson.loads of the whole file) peaks near 10x "
                    "the file's size (1.96 GB for a 0.2 GB one: ~20 GB for 2 GB); floor.py t2 also needs "
                    "annotations as a list"
                ),
            )
        )
    return groups


# --------------------------------------------------------------------------------------------------------
# Report


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}"


def table(results: list[tuple[Group, list[Stats]]]) -> str:
    """The markdown table: min wall and CPU over the reps, max peaks; groups without a floor say so."""
    head = [
        "task",
        "set",
        "tool",
        "wall s (min)",
        "CPU s (min)",
        "peak MiB, tree sum (max)",
        "peak MiB, largest process (max)",
        "images/s",
        "cells (annotations)/s",
        "x floor (wall)",
        "target",
        "result",
    ]
    rows = [head, ["---"] * 3 + ["---:"] * 7 + ["---"] * 2]
    for group, stats in results:
        floor = next((s for s in stats if s.tool == "floor"), None)
        for s in stats:
            set_name = group.balf.name if group.balf else "-"
            if s.error is not None or not s.runs:
                rows.append(
                    [
                        group.task,
                        set_name,
                        s.tool,
                        *["-"] * 7,
                        group.target if s.tool == "cytoconv" else "-",
                        "ERROR",
                    ]
                )
                continue
            ok_floor = floor is not None and floor.error is None and bool(floor.runs)
            ratio = f"{s.wall / floor.wall:.2f}" if ok_floor and floor else "-"
            if group.no_floor is not None:
                ratio = "no floor (note)"
            if s.tool != "cytoconv" or group.check is None:
                verdict, target = "-", "-"
            elif not ok_floor and group.task != "T0" and group.no_floor is None:
                verdict, target = "n/a (floor failed)", group.target
            else:
                verdict = "PASS" if group.check(s, floor if ok_floor else None) else "FAIL"
                target = group.target
            rows.append(
                [
                    group.task,
                    set_name,
                    s.tool,
                    f"{s.wall:.3f}",
                    f"{s.cpu:.2f}",
                    f"{s.rss / 2**20:,.0f}",
                    f"{s.proc_rss / 2**20:,.0f}",
                    _rate(group.balf.images, s.wall) if group.balf else "-",
                    _rate(group.balf.cells, s.wall) if group.balf and group.balf.cells else "-",
                    ratio,
                    target,
                    verdict,
                ]
            )
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    notes = {g.task: g.no_floor for g, _ in results if g.no_floor is not None}
    lines += ["", *(f"- {task}, no floor: {note}" for task, note in notes.items())] if notes else []
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="generated sets (default: $CYTOCONV_BENCH_DATA or %(default)s); missing ones are made",
    )
    ap.add_argument(
        "--shared",
        type=Path,
        default=DEFAULT_SHARED,
        help="folder holding gen_balf.py and drivers/floor.py (default: %(default)s)",
    )
    ap.add_argument(
        "--python",
        default=sys.executable,
        help="python for the floor and the generator; needs orjson, pillow, numpy (default: this one)",
    )
    bin_dir_cytoconv = Path(sys.executable).parent / "cytoconv"
    ap.add_argument(
        "--cytoconv",
        default=str(bin_dir_cytoconv)
        if bin_dir_cytoconv.exists()
        else (shutil.which("cytoconv") or "cytoconv"),
        help="the cytoconv console script (default: beside this python, else on PATH)",
    )
    ap.add_argument(
        "--sets", default="small", help="BALF sets for T1, T2, T6, T7, T10: small,large (T3 is small only)"
    )
    ap.add_argument(
        "--reps", type=int, default=3, help="runs per command, interleaved; min times, max peaks reported"
    )
    ap.add_argument("--tasks", default="T0,T1,T2", help="comma list of T0 .. T11")
    ap.add_argument(
        "--livecell-gb",
        type=float,
        default=2.0,
        help="size of T11's LIVECell-sized file, made on first use in <data>/livecell_<N>gb (default 2.0)",
    )
    a = ap.parse_args(argv)

    tasks = [t.strip().upper() for t in a.tasks.split(",") if t.strip()]
    set_keys = [s.strip().lower().removeprefix("balf_") for s in a.sets.split(",") if s.strip()]
    if bad := [t for t in tasks if t not in [f"T{i}" for i in range(12)]]:
        ap.error(f"unknown task(s): {', '.join(bad)}")
    if a.livecell_gb <= 0:
        ap.error("--livecell-gb must be positive")
    if bad := [s for s in set_keys if s not in SETS]:
        ap.error(f"unknown set(s): {', '.join(bad)} (choose from small, large)")
    if a.reps < 1:
        ap.error("--reps must be at least 1")
    gen, floor = a.shared / "gen_balf.py", a.shared / "drivers" / "floor.py"
    for path in (gen, floor):
        if not path.is_file():
            ap.error(f"{path} not found (use --shared)")
    if shutil.which(a.cytoconv) is None:
        ap.error(f"cytoconv not found at {a.cytoconv} (use --cytoconv)")

    sets = [SETS[k] for k in dict.fromkeys(set_keys)]
    needed = {b.key: b for b in sets if {"T1", "T2", "T6", "T7", "T10"} & set(tasks)} | (
        {"small": SETS["small"]} if "T3" in tasks else {}
    )
    if "T4" in tasks:
        needed[WBC.key] = WBC
    if "T5" in tasks:
        needed[FOLDERS.key] = FOLDERS
    if {"T8", "T9"} & set(tasks):
        needed[POINTS.key] = POINTS
    livecell = None
    try:
        for balf in needed.values():
            ensure_set(balf, a.data, gen, a.python)
        if "T11" in tasks:
            livecell = ensure_livecell(a.data, a.livecell_gb, a.python)
    except CommandFailed as error:
        print(f"data generation failed: {error}", file=sys.stderr)
        return 1

    base = Path("/dev/shm") if os.path.isdir("/dev/shm") else Path(tempfile.gettempdir())
    scratch_root = base / "cytoconv-bench-out"
    scratch_root.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-", dir=scratch_root))  # ours alone, even if runs overlap
    sample, memory_note = tree_sampler()

    results: list[tuple[Group, list[Stats]]] = []
    failed = False
    try:
        for group in build_groups(tasks, sets, a.data, floor, a.python, a.cytoconv, a.reps, livecell):
            label = f"{group.task} {group.balf.name if group.balf else ''}".strip()
            warm_cache(group.warm)
            stats = [Stats(job.tool) for job in group.jobs]
            for rep in range(group.runs):
                for job, st in zip(group.jobs, stats):
                    if st.error is not None:
                        continue
                    try:
                        run = run_once(job, scratch, sample)
                    except CommandFailed as error:
                        st.error = str(error)
                        failed = True
                        print(f"\n{label} {job.tool} FAILED: {error}\n", file=sys.stderr, flush=True)
                        continue
                    st.runs.append(run)
                    print(
                        f"{label} {job.tool} run {rep + 1}/{group.runs}: {run.wall:.3f} s wall, "
                        f"{run.cpu:.2f} s CPU, {run.rss / 2**20:,.0f} MiB (tree), "
                        f"{run.proc_rss / 2**20:,.0f} MiB (largest process)",
                        file=sys.stderr,
                        flush=True,
                    )
            results.append((group, stats))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(OSError):  # another run's folder is still there
            scratch_root.rmdir()

    print()
    print(table(results))
    print()
    print(
        f"- cytoconv: {a.cytoconv}; floor: {a.python} {floor} (T0 floor: `python -c 'import orjson, PIL.Image'`)"
    )
    print(
        f"- {os.cpu_count()} cores; outputs on {scratch_root}; peak RSS {memory_note}; "
        "forked workers' shared pages count once per process"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
