"""Issue 15's speed target: a 100,000-object QuPath export converts to COCO within 1.5x the time of the same
objects from YOLO polygons.

The QuPath export is made from the YOLO set by cytoconv itself (once), so both inputs hold exactly the same
polygons; then ``yolo -> coco`` and ``qupath -> coco`` run alternately, and the minimum of the runs is
compared (the machine is shared: timings move by a third from run to run).

  python benchmarks/qupath_speed.py YOLO_ROOT [--work DIR] [--reps 3]

A YOLO root of about 100,000 objects: the first 15,809 images of gen_balf.py's balf_large hold 100,002.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path


def timed(argv: list[str]) -> float:
    """Wall seconds of one command, which must succeed."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("yolo", type=Path)
    ap.add_argument("--work", type=Path, default=Path("/tmp/qupath-speed"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cytoconv", default=shutil.which("cytoconv") or "cytoconv")
    a = ap.parse_args()
    cyto = a.cytoconv
    images = a.yolo / "images"
    qupath = a.work / "qupath"
    if not qupath.exists():
        a.work.mkdir(parents=True, exist_ok=True)
        subprocess.run([cyto, "convert", str(a.yolo), str(qupath), "--to", "qupath", "-q"], check=True)
    runs: dict[str, list[float]] = {"yolo -> coco": [], "qupath -> coco": []}
    for _ in range(a.reps):
        runs["yolo -> coco"].append(
            timed([cyto, "yolo2coco", str(a.yolo), str(a.work / "y.json"), "-q", "--overwrite"])
        )
        runs["qupath -> coco"].append(
            timed(
                [
                    cyto,
                    "qupath2coco",
                    str(qupath),
                    str(a.work / "q.json"),
                    "-q",
                    "--overwrite",
                    "--images",
                    str(images),
                ]
            )
        )
    best = {name: min(times) for name, times in runs.items()}
    for name, times in runs.items():
        print(f"{name}: min {best[name]:.2f} s  ({', '.join(f'{t:.2f}' for t in times)})")
    ratio = best["qupath -> coco"] / best["yolo -> coco"]
    print(f"qupath / yolo: {ratio:.2f}x (target <= 1.5x): {'met' if ratio <= 1.5 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
