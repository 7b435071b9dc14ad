"""A Chula-RBC-12-sized points set and the plain-Python floors cytoconv's point commands are timed against.

``../shared/bench`` has no point annotations, so this file brings its own, in the same spirit as its floor
scripts: the simplest correct program a user would write, with the same libraries (Pillow, json).

  python benchmarks/points_floor.py gen OUT           # 738 JPEGs of 640x480, 623 label files, 22,106 points
  python benchmarks/points_floor.py t8 ROOT OUT.json  # Dataset/ + Label/ -> COCO keypoints (sizes from PIL)
  python benchmarks/points_floor.py t9 ROOT OUT       # a 100x100 PNG around every point, black padding,
                                                      # into OUT/<class>/ (Pillow's defaults)
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

IMAGES, LABELLED, POINTS, CLASSES = 738, 623, 22_106, 13  # Chula RBC-12 as its README and files say
WIDTH, HEIGHT, WINDOW = 640, 480, 100


def gen(out: Path) -> None:
    """Images of smooth noise (so JPEG and PNG sizes are realistic) and 0-based ``x y class`` lines; the
    first file holds the remainder so that the total is exactly POINTS. Writes ``gen_summary.json`` last."""
    import numpy as np
    from PIL import Image

    rng = random.Random(14)
    (out / "Dataset").mkdir(parents=True, exist_ok=True)
    (out / "Label").mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(14)
    base = noise.integers(0, 255, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    per_file, extra = divmod(POINTS, LABELLED)
    for n in range(1, IMAGES + 1):
        tile = np.roll(base, n, axis=1)
        Image.fromarray(tile).resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR).save(
            out / "Dataset" / f"{n}.jpg", quality=90
        )
        if n <= LABELLED:
            count = per_file + (extra if n == 1 else 0)
            lines = (
                f"{rng.randrange(WIDTH)} {rng.randrange(HEIGHT)} {rng.randrange(CLASSES)}\n"
                for _ in range(count)
            )
            (out / "Label" / f"{n}.txt").write_text("".join(lines))
    (out / "gen_summary.json").write_text(json.dumps({"images": IMAGES, "points": POINTS}))


def t8(root: Path, dest: Path) -> None:
    """points-txt -> COCO keypoints: keypoint = the pixel index, bbox the pixel, categories 0..12."""
    from PIL import Image

    images, annotations = [], []
    for k, name in enumerate(sorted(os.listdir(root / "Dataset")), start=1):
        with Image.open(root / "Dataset" / name) as im:
            width, height = im.size
        images.append({"id": k, "file_name": name, "width": width, "height": height})
        label = root / "Label" / (name.rsplit(".", 1)[0] + ".txt")
        if not label.is_file():
            continue
        for line in label.read_text().splitlines():
            if not line.strip():
                continue
            x, y, c = (int(v) for v in line.split())
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": k,
                    "category_id": c + 1,
                    "segmentation": [],
                    "area": 1,
                    "bbox": [x, y, 1, 1],
                    "iscrowd": 0,
                    "keypoints": [x, y, 2],
                    "num_keypoints": 1,
                }
            )
    categories = [
        {"id": c + 1, "name": f"class_{c}", "keypoints": ["center"], "skeleton": []} for c in range(13)
    ]
    dest.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))


def t9(root: Path, dest: Path) -> None:
    """A WINDOW x WINDOW crop around every point (its centre pixel the annotated one), black past the edge."""
    from PIL import Image

    half = WINDOW // 2
    for label in sorted((root / "Label").glob("*.txt")):
        image = root / "Dataset" / (label.stem + ".jpg")
        with Image.open(image) as im:
            im = im.convert("RGB")
            for k, line in enumerate(label.read_text().splitlines()):
                x, y, c = (int(v) for v in line.split())
                folder = dest / f"class_{c}"
                folder.mkdir(parents=True, exist_ok=True)
                im.crop((x - half, y - half, x - half + WINDOW, y - half + WINDOW)).save(
                    folder / f"{label.stem}_{k:03d}.png"
                )  # Pillow pads a crop past the edge with black


if __name__ == "__main__":
    task, *args = sys.argv[1:]
    {"gen": gen, "t8": t8, "t9": t9}[task](*map(Path, args))
