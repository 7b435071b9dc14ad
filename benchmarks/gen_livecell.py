"""A LIVECell-sized COCO file (~2 GB of cell polygons), written with bounded memory.

LIVECell (Edlund et al. 2021) ships 704x520 phase-contrast images with about 1.6 million cell outlines in
2.1 GB of COCO JSON, and its ``annotations`` is a JSON *object* keyed by the annotation id as a string
(``{"1": {"id": 1, ...}, ...}``), which pycocotools cannot index (LIVECell issue #9: "string indices must
be integers").  A reader that loads such a file whole needs many times its size in Python objects; this
file is the input of bench.py T11, which checks that a converter does not.

The generator itself never holds the document: the images' annotations are made one image at a time
(numpy, vectorised per image), each annotation is serialised by orjson on its own (its polygon straight
from a numpy slice) and the bytes go out through a buffered file.  Memory stays at a few tens of MB
whatever --size-gb is.

  python benchmarks/gen_livecell.py --out /tmp/bench/data/livecell_2gb/livecell_coco_train.json
  python benchmarks/gen_livecell.py --out small.json --size-gb 0.02 --key-order annotations-first
  python benchmarks/gen_livecell.py --out list.json --size-gb 0.02 --list   # annotations as a list

Cells: ellipses 20-60 px across (minor axis 55-100 % of the major), rotated, with a smooth wobble of
the radius (2nd and 3rd harmonics) and a little per-vertex jitter; 20-60 vertices in order around the
centre, so every polygon is simple and lies inside the image.  Coordinates carry 2 or 3 decimals (per
cell), as hand-drawn outlines exported by tools do.  Cells per image: log-normal around 230 (mean ~300,
5 .. 2,500), the spread of LIVECell's sparse and confluent wells.

Deterministic for a seed and a size: image i's cells come from a generator seeded by (seed, i), and the
number of images from the per-annotation size measured on the first images.  GB here is 10^9 bytes; the
file lands within about 1 % of --size-gb.  The file is written to a temporary name beside --out and
renamed last, and a summary (images, annotations, bytes) is printed and, with --summary, written as JSON
after that, so that a half-written file is never taken for a whole one.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

WIDTH, HEIGHT = 704, 520
KEYS = ("info", "licenses", "images", "annotations", "categories")
ORDERS = {
    "images-first": KEYS,  # the usual COCO layout
    "annotations-first": ("annotations", "categories", "images", "licenses", "info"),
    "categories-last": ("info", "images", "annotations", "licenses", "categories"),
}
CELLS_MEDIAN, CELLS_SIGMA, CELLS_MIN, CELLS_MAX = 230.0, 0.7, 5, 2500
DIAMETER = (20.0, 60.0)
VERTICES = (20, 60)
WOBBLE = (
    1.15  # the largest radius over the ellipse's: 1 + harmonics (0.06 + 0.05) + jitter (0.03), rounded up
)
CALIBRATION_ANNOTATIONS = 3000
BUFFER = 8 << 20
NUMPY = orjson.OPT_SERIALIZE_NUMPY


def cell_counts(seed: int) -> Iterator[int]:
    """Cells per image, image after image: one stream, so the first n counts do not depend on the size."""
    rng = np.random.default_rng([seed, 0])
    while True:
        draw = rng.lognormal(math.log(CELLS_MEDIAN), CELLS_SIGMA, 1024)
        yield from np.clip(np.rint(draw), CELLS_MIN, CELLS_MAX).astype(int).tolist()


def image_annotations(
    seed: int, index: int, count: int, first_id: int, vertices: tuple[int, int], keyed: bool
) -> bytes:
    """The comma-joined annotations of image ``index`` (ids from ``first_id``), as JSON bytes.

    Everything geometric is computed for the whole image at once on flat vertex arrays; only the last
    step, one orjson call per annotation, is a Python loop.
    """
    rng = np.random.default_rng([seed, 1, index])
    n = count
    k = rng.integers(vertices[0], vertices[1] + 1, n)  # vertices per cell
    a = rng.uniform(*DIAMETER, n) / 2  # semi-major axis
    b = a * rng.uniform(0.55, 1.0, n)
    rot = rng.uniform(0.0, 2 * math.pi, n)
    amp2, amp3 = rng.uniform(0.0, 0.06, n), rng.uniform(0.0, 0.05, n)
    ph2, ph3 = rng.uniform(0.0, 2 * math.pi, n), rng.uniform(0.0, 2 * math.pi, n)
    margin = a * WOBBLE + 0.01
    cx = margin + rng.random(n) * (WIDTH - 2 * margin)
    cy = margin + rng.random(n) * (HEIGHT - 2 * margin)
    scale = np.where(rng.random(n) < 0.5, 100.0, 1000.0)  # 2 or 3 decimals

    total = int(k.sum())
    starts = np.cumsum(k) - k
    cell = np.repeat(np.arange(n), k)
    step = np.arange(total) - starts[cell]
    # angles in order around the centre, each within +-0.2 of its slot: the polygon cannot cross itself
    t = 2 * math.pi * (step + rng.uniform(-0.2, 0.2, total)) / k[cell]
    radius = (
        1.0
        + amp2[cell] * np.cos(2 * t + ph2[cell])
        + amp3[cell] * np.cos(3 * t + ph3[cell])
        + rng.uniform(-0.03, 0.03, total)
    )
    ex, ey = a[cell] * np.cos(t) * radius, b[cell] * np.sin(t) * radius
    cos, sin = np.cos(rot)[cell], np.sin(rot)[cell]
    s = scale[cell]
    # rint(v * 100) / 100 is the double nearest to the 2-decimal value: orjson prints it in <= 2 decimals
    x = np.clip(np.rint((cx[cell] + ex * cos - ey * sin) * s) / s, 0.0, WIDTH)
    y = np.clip(np.rint((cy[cell] + ex * sin + ey * cos) * s) / s, 0.0, HEIGHT)
    xy = np.empty(2 * total)
    xy[0::2], xy[1::2] = x, y

    following = np.arange(1, total + 1)
    following[starts + k - 1] = starts  # the last vertex closes onto the first
    area = np.abs(np.add.reduceat(x * y[following] - x[following] * y, starts)) / 2
    x0, y0 = np.minimum.reduceat(x, starts), np.minimum.reduceat(y, starts)
    x1, y1 = np.maximum.reduceat(x, starts), np.maximum.reduceat(y, starts)
    bbox = np.rint(np.stack([x0, y0, x1 - x0, y1 - y0], axis=1) * 1000) / 1000

    image_id = index + 1
    areas, boxes = (np.rint(area * 100) / 100).tolist(), bbox.tolist()
    bounds = (2 * starts).tolist()
    ends = (2 * (starts + k)).tolist()
    pieces = []
    for i in range(n):
        ann_id = first_id + i
        body = orjson.dumps(
            {
                "id": ann_id,
                "image_id": image_id,
                "category_id": 1,
                "segmentation": [xy[bounds[i] : ends[i]]],
                "area": areas[i],
                "bbox": boxes[i],
                "iscrowd": 0,
            },
            option=NUMPY,
        )
        pieces.append(b'"%d":%s' % (ann_id, body) if keyed else body)
    return b",".join(pieces)


def image_entry(index: int) -> dict[str, Any]:
    """One ``images`` entry; ``original_filename`` is an extra key a reader must let pass."""
    name = f"livecell_{index + 1:06d}"
    return {
        "id": index + 1,
        "file_name": f"{name}.tif",
        "width": WIDTH,
        "height": HEIGHT,
        "original_filename": f"{name}_phase.tif",
    }


def plan(seed: int, size: float, vertices: tuple[int, int], keyed: bool) -> list[int]:
    """Cells per image for a file of about ``size`` bytes.

    The bytes per annotation (less its ids, whose digits grow along the file and are added back per
    image) are measured on the first images, the same ones the file will start with; the images' own
    entries are estimated from the first one.  Images are added until the estimate reaches the size:
    the plan costs the formatting of ~3,000 annotations, not a dry run of the whole file.
    """
    counts = cell_counts(seed)
    sample_bytes = sample_annotations = index = 0
    while sample_annotations < CALIBRATION_ANNOTATIONS:
        n = next(counts)
        sample_bytes += len(image_annotations(seed, index, n, sample_annotations + 1, vertices, keyed)) + 1
        sample_bytes -= n * _id_digits(sample_annotations + 1 + n // 2, index + 1, keyed)
        sample_annotations += n
        index += 1
    per_annotation = sample_bytes / sample_annotations  # without its ids, which grow along the file
    per_image = len(orjson.dumps(image_entry(0))) + 1
    plan_counts: list[int] = []
    estimate = 400.0  # the keys, info, licenses, categories
    next_id = 1
    for n in cell_counts(seed):
        if estimate >= size and plan_counts:
            break
        plan_counts.append(n)
        ids = _id_digits(next_id + n // 2, len(plan_counts), keyed)
        estimate += per_image + n * (per_annotation + ids)
        next_id += n
    return plan_counts


def _id_digits(ann_id: int, image_id: int, keyed: bool) -> int:
    """Bytes of an annotation's ids: its "id", its "image_id" and, in an object, its key."""
    return (2 if keyed else 1) * len(str(ann_id)) + len(str(image_id))


def write(
    out: Path, seed: int, counts: list[int], order: tuple[str, ...], vertices: tuple[int, int], keyed: bool
) -> tuple[int, int]:
    """Stream the document to ``out`` (through a temporary name); (annotations, bytes) written."""
    info = {
        "description": "synthetic LIVECell-sized COCO (benchmarks/gen_livecell.py)",
        "version": "1.0",
        "year": 2021,
        "seed": seed,
    }
    licenses = [{"id": 1, "name": "synthetic", "url": ""}]
    categories = [{"id": 1, "name": "cell", "supercategory": "cell"}]
    images = [image_entry(i) for i in range(len(counts))]
    annotations = 0

    def annotation_section(f: Any) -> None:
        nonlocal annotations
        f.write(b"{" if keyed else b"[")
        next_id = 1
        for index, n in enumerate(counts):
            if index:
                f.write(b",")
            f.write(image_annotations(seed, index, n, next_id, vertices, keyed))
            next_id += n
        annotations = next_id - 1
        f.write(b"}" if keyed else b"]")

    sections: dict[str, Callable[[Any], Any]] = {
        "info": lambda f: f.write(orjson.dumps(info)),
        "licenses": lambda f: f.write(orjson.dumps(licenses)),
        "images": lambda f: f.write(orjson.dumps(images)),
        "annotations": annotation_section,
        "categories": lambda f: f.write(orjson.dumps(categories)),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f".{out.name}.part-{os.getpid()}")
    try:
        with open(part, "wb", buffering=BUFFER) as f:
            f.write(b"{")
            for i, key in enumerate(order):
                f.write(b'%s"%s":' % (b"," if i else b"", key.encode()))
                sections[key](f)
            f.write(b"}\n")
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return annotations, out.stat().st_size


def _order(text: str) -> tuple[str, ...]:
    if text in ORDERS:
        return ORDERS[text]
    keys = tuple(k.strip() for k in text.split(","))
    if sorted(keys) != sorted(KEYS):
        raise argparse.ArgumentTypeError(
            f"{text!r}: one of {', '.join(ORDERS)}, or all of {','.join(KEYS)} in any order"
        )
    return keys


def _range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition(",")
    try:
        low, high = int(lo), int(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: MIN,MAX vertices, e.g. 20,60") from None
    if not 3 <= low <= high:
        raise argparse.ArgumentTypeError(f"{text!r}: need 3 <= MIN <= MAX")
    return low, high


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="the COCO JSON file to write")
    ap.add_argument("--size-gb", type=float, default=2.0, help="about this many 10^9 bytes (default 2.0)")
    ap.add_argument("--seed", type=int, default=20210903, help="default: %(default)s")
    ap.add_argument(
        "--key-order",
        type=_order,
        default=ORDERS["images-first"],
        help=f"{', '.join(ORDERS)} (default images-first), or the five keys comma-separated",
    )
    ap.add_argument("--list", action="store_true", help="annotations as a list, not LIVECell's object")
    ap.add_argument(
        "--vertices", type=_range, default=VERTICES, help="MIN,MAX vertices per cell (default 20,60)"
    )
    ap.add_argument("--summary", type=Path, help="also write the summary as JSON here (after the file)")
    a = ap.parse_args(argv)
    if a.size_gb <= 0:
        ap.error("--size-gb must be positive")

    start = time.perf_counter()
    keyed = not a.list
    counts = plan(a.seed, a.size_gb * 1e9, a.vertices, keyed)
    annotations, size = write(a.out, a.seed, counts, a.key_order, a.vertices, keyed)
    seconds = time.perf_counter() - start
    summary = {
        "file": str(a.out),
        "images": len(counts),
        "annotations": annotations,
        "bytes": size,
        "bytes_per_annotation": round(size / annotations, 1),
        "seed": a.seed,
        "size_gb": a.size_gb,
        "key_order": list(a.key_order),
        "annotations_as": "list" if a.list else "object",
        "vertices": list(a.vertices),
        "width": WIDTH,
        "height": HEIGHT,
        "seconds": round(seconds, 1),
    }
    if a.summary:
        a.summary.parent.mkdir(parents=True, exist_ok=True)
        tmp = a.summary.with_name(f".{a.summary.name}.part-{os.getpid()}")
        tmp.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
        os.replace(tmp, a.summary)
    print(
        f"{a.out}: {len(counts):,} images, {annotations:,} annotations, {size:,} bytes "
        f"({size / annotations:,.0f} bytes/annotation) in {seconds:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
