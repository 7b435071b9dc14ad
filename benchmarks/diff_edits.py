"""A copy of a COCO file with known edits, and the numbers ``cytoconv diff ORIGINAL COPY`` must report.

Deterministic (no randomness): the k-th annotation in file order is

  - removed             when k % REMOVE == 0                              -> only in A (its class)
  - relabelled          when k % RELABEL == 1 (to the next category)     -> relabelled (A's class -> B's)
  - shifted by +3 px in x when k % SHIFT == 2 and its bbox is at least MIN_SIDE px wide and high (so that
                        its IoU with itself stays far above 0.5)          -> moved
  - every ADD-th image gets a 10x10 square at (1, 1), of the categories in turn, overlapping
                        nothing much                                      -> only in B
  - every DROP-th image is left out of the copy, with its annotations    -> image only in A (objects only in A)
  - one new image ``diff_edits_extra.jpg`` with one square              -> image only in B (object only in B)

  python benchmarks/diff_edits.py IN.json OUT.json --expected EXPECTED.json

EXPECTED.json holds, per class name, ``only_in_a``, ``only_in_b``, ``relabelled``, ``moved`` (and the images
only in A and B), which ``tests/test_diff.py`` compares with the diff of a sample and bench.py T10 runs on the
50,000-image set.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REMOVE, RELABEL, SHIFT, ADD, DROP = 97, 89, 83, 101, 1000
SHIFT_PX = 3.0
MIN_SIDE = 24.0
EXTRA = "diff_edits_extra.jpg"


def _square(ann_id: int, image_id: int, category_id: int) -> dict[str, Any]:
    x, y, s = 1.0, 1.0, 10.0
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": [[x, y, x + s, y, x + s, y + s, x, y + s]],
        "bbox": [x, y, s, s],
        "area": s * s,
        "iscrowd": 0,
    }


def edit(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The edited copy of a COCO document and what a diff of the two must count."""
    cats = [c["id"] for c in doc["categories"]]
    name = {c["id"]: c["name"] for c in doc["categories"]}
    next_cat = {c: cats[(i + 1) % len(cats)] for i, c in enumerate(cats)}
    dropped = {im["id"] for k, im in enumerate(doc["images"]) if k % DROP == DROP - 1}
    only_a: Counter[str] = Counter()
    only_b: Counter[str] = Counter()
    moved: Counter[str] = Counter()
    relabelled: Counter[str] = Counter()
    relabelled_to: Counter[str] = Counter()
    annotations = []
    for k, ann in enumerate(doc["annotations"]):
        cls = name[ann["category_id"]]
        if ann["image_id"] in dropped:
            only_a[cls] += 1
            continue
        if k % REMOVE == 0:
            only_a[cls] += 1
            continue
        ann = dict(ann)
        if k % RELABEL == 1:
            ann["category_id"] = next_cat[ann["category_id"]]
            relabelled[cls] += 1
            relabelled_to[f"{cls} -> {name[ann['category_id']]}"] += 1
        elif k % SHIFT == 2 and min(ann["bbox"][2:]) >= MIN_SIDE and isinstance(ann["segmentation"], list):
            ann["segmentation"] = [
                [v + SHIFT_PX if i % 2 == 0 else v for i, v in enumerate(ring)]
                for ring in ann["segmentation"]
            ]
            ann["bbox"] = [ann["bbox"][0] + SHIFT_PX, *ann["bbox"][1:]]
            moved[cls] += 1
        annotations.append(ann)
    next_id = max((a["id"] for a in doc["annotations"]), default=0) + 1
    images = [im for im in doc["images"] if im["id"] not in dropped]
    for k, im in enumerate(images):
        if k % ADD == ADD - 1:
            cat = cats[(k // ADD) % len(cats)]
            annotations.append(_square(next_id, im["id"], cat))
            only_b[name[cat]] += 1
            next_id += 1
    extra_id = max((im["id"] for im in doc["images"]), default=0) + 1
    first = doc["images"][0]
    images.append({"id": extra_id, "file_name": EXTRA, "width": first["width"], "height": first["height"]})
    annotations.append(_square(next_id, extra_id, cats[0]))
    only_b[name[cats[0]]] += 1
    copy = {**doc, "images": images, "annotations": annotations}
    by_id = {im["id"]: im["file_name"] for im in doc["images"]}
    expected = {
        "classes": {
            name[c]: {
                "only_in_a": only_a[name[c]],
                "only_in_b": only_b[name[c]],
                "relabelled": relabelled[name[c]],
                "moved": moved[name[c]],
            }
            for c in cats
        },
        "relabelled_to": dict(sorted(relabelled_to.items())),
        "images_only_in_a": sorted(by_id[i] for i in dropped),
        "images_only_in_b": [EXTRA],
    }
    return copy, expected


def main(argv: list[str] | None = None) -> int:
    import orjson

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("dest", type=Path)
    ap.add_argument("--expected", type=Path, help="where to write the numbers the diff must report")
    a = ap.parse_args(argv)
    copy, expected = edit(orjson.loads(a.src.read_bytes()))
    a.dest.parent.mkdir(parents=True, exist_ok=True)
    a.dest.write_bytes(orjson.dumps(copy))
    if a.expected:
        a.expected.write_bytes(orjson.dumps(expected, option=orjson.OPT_INDENT_2))
    else:
        sys.stdout.write(orjson.dumps(expected, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
