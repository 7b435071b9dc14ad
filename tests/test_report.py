"""``cytoconv report``: one self-contained HTML page whose numbers are those of ``stats --json`` and
``validate --format json``, whose gallery shows every class, and that renders in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BALF_SAMPLE, REAL, run_cli

POINTS = REAL / "chula_rbc12_points"
FOLDERS = REAL / "pbc_classfolders" / "PBC_dataset_normal_DIB"
IN_CI = os.environ.get("CI", "").lower() == "true"


class Page(HTMLParser):
    """What the tests read back from a page: the class tables, the gallery, the findings, every reference."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.gallery: list[tuple[str, list[int]]] = []
        self.findings: list[dict[str, str]] = []
        self.references: list[str] = []
        self._table: str | None = None
        self._row: dict[str, str] | None = None
        self._finding: dict[str, str] | None = None
        self._cell: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for key in ("src", "href", "action", "poster", "srcset"):
            if key in a:
                self.references.append(a[key])
        if tag == "table" and "classes" in a.get("class", "").split():
            self._table = a["data-section"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = {}
        elif tag == "tr" and "data-code" in a:
            self._finding = {"code": a["data-code"]}
        elif tag == "td" and self._row is not None and "data-key" in a:
            self._row[a["data-key"]] = a["data-value"]
        elif tag == "td" and self._finding is not None and "data-key" in a:
            self._cell = a["data-key"]
            self._finding[self._cell] = ""
        elif tag == "figure" and "data-file" in a:
            self.gallery.append((a["data-file"], json.loads(a["data-classes"])))

    def handle_data(self, data: str) -> None:
        if self._finding is not None and self._cell is not None:
            self._finding[self._cell] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                assert self._table is not None
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "tr" and self._finding is not None:
            self.findings.append(self._finding)
            self._finding = None
        elif tag == "table":
            self._table = None


def _value(text: str) -> Any:
    """A cell's ``data-value`` as the JSON value it came from ("" is null)."""
    if text == "":
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def make_report(
    dataset: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[Page, str]:
    code, _, err = run_cli(["report", str(dataset), str(out), "-q", "-j", "1", *extra], capsys)
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    return Page(text), text


CASES = [
    pytest.param(BALF_SAMPLE, ("--pixel-size", "0.25"), id="balf-yolo"),
    pytest.param(POINTS, (), id="chula-points"),
    pytest.param(FOLDERS, (), id="pbc-classfolders"),
]


@pytest.mark.parametrize(("dataset", "extra"), CASES)
def test_class_table_equals_stats_json(
    dataset: Path, extra: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page, _ = make_report(dataset, tmp_path / "r.html", capsys, *extra)
    code, out, err = run_cli(["stats", str(dataset), "--json", "-q", "-j", "1", *extra], capsys)
    assert code == 0, err
    doc = json.loads(out)
    sections = {"total": doc["total"]["classes"]}
    sections |= {s["split"] if s["split"] is not None else "no split": s["classes"] for s in doc["splits"]}
    assert set(page.tables) == set(sections)
    for name, classes in sections.items():
        rows = page.tables[name]
        assert len(rows) == len(classes)
        for row, expected in zip(rows, classes):
            assert {"id", "name", "count", "share_percent", "images"} <= set(row)
            for key, text in row.items():
                assert _value(text) == expected[key], (name, expected["name"], key)
            if doc["counted"] == "instances" and doc["total"]["geometry"]["point"] == 0:
                assert {"area_mean_px", "area_median_px", "diameter_mean_px", "diameter_median_px"} <= set(
                    row
                )
            if doc["pixel_size_um"] is not None:
                assert {"area_mean_um2", "diameter_median_um"} <= set(row)


@pytest.mark.parametrize(("dataset", "extra"), CASES)
def test_every_class_appears_in_the_gallery(
    dataset: Path, extra: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page, _ = make_report(dataset, tmp_path / "r.html", capsys, *extra)
    _, out, _ = run_cli(["stats", str(dataset), "--json", "-q", "-j", "1"], capsys)
    present = {c["id"] for c in json.loads(out)["total"]["classes"] if c["count"]}
    shown = {c for _, classes in page.gallery for c in classes}
    assert present <= shown
    assert 0 < len(page.gallery) <= 24
    assert len({name for name, _ in page.gallery}) == len(page.gallery)


def test_the_samples_follow_the_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--samples", "9")
    first, _ = make_report(FOLDERS, tmp_path / "a.html", capsys, *args)
    again, _ = make_report(FOLDERS, tmp_path / "b.html", capsys, *args)
    other, _ = make_report(FOLDERS, tmp_path / "c.html", capsys, *args, "--seed", "7")
    assert first.gallery == again.gallery
    assert len(first.gallery) == 9
    assert {c for _, cs in other.gallery for c in cs} == {c for _, cs in first.gallery for c in cs}  # all 8


def test_choose_samples_is_stratified_and_deterministic() -> None:
    from cytoconv.ops.report import choose_samples

    classes = [(1,)] * 50 + [(2,)] * 3 + [(1, 3)] + [()] * 10
    for seed in range(5):
        picked = choose_samples(classes, 3, seed)
        assert picked == choose_samples(classes, 3, seed) == sorted(picked)
        assert {c for i in picked for c in classes[i]} == {1, 2, 3}
    assert choose_samples(classes, 1000) == list(range(len(classes)))
    assert choose_samples(classes, 0) == []


@pytest.mark.parametrize(("dataset", "extra"), CASES)
def test_the_page_references_nothing_outside_itself(
    dataset: Path, extra: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page, text = make_report(dataset, tmp_path / "r.html", capsys, *extra)
    assert page.references, "the thumbnails are images"
    for ref in page.references:
        assert ref.startswith(("data:", "#")), ref
    outside = re.sub(r"data:[^\"']*", "", text)  # base64 may spell anything
    assert "http" not in outside.lower() and "//" not in outside.replace("<!--", "")
    assert "@import" not in text and "url(" not in text
    assert "<link" not in text and not re.search(r"<script[^>]+src", text)


def _with_duplicate_line(tmp_path: Path) -> Path:
    copy = tmp_path / "balf"
    shutil.copytree(BALF_SAMPLE, copy)
    label = copy / "labels" / "balf_003.txt"
    lines = label.read_text(encoding="utf-8").splitlines(keepends=True)
    label.write_text("".join([*lines, lines[0]]), encoding="utf-8")
    return copy


def test_findings_equal_validate_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    dataset = _with_duplicate_line(tmp_path)
    page, _ = make_report(dataset, tmp_path / "r.html", capsys)
    _, out, _ = run_cli(["validate", str(dataset), "--format", "json"], capsys)
    expected = json.loads(out)["findings"]
    assert any(f["code"] == "CC105" or "duplicate" in f["rule"] for f in expected), expected
    got = [
        {
            "path": f["path"],
            "line": int(f["line"]) if f["line"] else None,
            "code": f["code"],
            "severity": f["severity"],
            "message": f["message"],
        }
        for f in page.findings
    ]
    # grouped by code on the page, in validate's order within a code
    want = sorted(
        ({k: f[k] for k in ("path", "line", "code", "severity", "message")} for f in expected),
        key=lambda f: f["code"],
    )
    assert got == want


def test_a_format_without_findings_says_so(tmp_path: Path) -> None:
    import cytoconv

    result = cytoconv.report(BALF_SAMPLE, tmp_path / "r.html", jobs=1, validate=False, samples=2)
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert result.findings.records is None and "validate was not run" in text
    assert len(result.samples) == 2 and result.size == len(text.encode("utf-8"))


def test_size_of_24_samples_stays_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """30 images of 853x640 (the BALF sample and copies), 24 samples: well under 10 MB."""
    copy = tmp_path / "balf"
    shutil.copytree(BALF_SAMPLE, copy)
    for k, image in enumerate(sorted((copy / "images").glob("*.jpg"))[:10]):
        shutil.copy(image, copy / "images" / f"copy_{k:02d}.jpg")
        shutil.copy(copy / "labels" / (image.stem + ".txt"), copy / "labels" / f"copy_{k:02d}.txt")
    start = time.perf_counter()
    page, _ = make_report(copy, tmp_path / "r.html", capsys)
    seconds = time.perf_counter() - start
    size = (tmp_path / "r.html").stat().st_size
    assert len(page.gallery) == 24
    assert size < 10_000_000, size
    print(f"report of 30 images, 24 samples: {size / 1e6:.2f} MB in {seconds:.2f} s")


def test_existing_output_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    out.write_text("keep", encoding="utf-8")
    code, _, err = run_cli(["report", str(BALF_SAMPLE), str(out), "-q"], capsys)
    assert code == 2 and "--overwrite" in err and out.read_text(encoding="utf-8") == "keep"
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [', encoding="utf-8")
    code, _, err = run_cli(["report", str(bad), str(tmp_path / "bad.html"), "--from", "coco", "-q"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad.html").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    code, _, err = run_cli(["report", str(BALF_SAMPLE), str(out), "--samples", "-1"], capsys)
    assert code == 2


# ---------------------------------------------------------------------------------------------
# In a browser

CATCH_ERRORS = (
    "<script>window.addEventListener('error', function (e) {"
    " document.documentElement.setAttribute('data-errors',"
    " (document.documentElement.getAttribute('data-errors') || '') + (e.message || 'error') + '|'); });</script>"
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if IN_CI:
            pytest.fail("chromium is not installed (apt-get install chromium); CI must run the browser tests")
        pytest.skip("chromium is not installed")
    return found


def _browser(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")},
    )


@pytest.mark.parametrize(("dataset", "extra"), CASES)
def test_renders_in_chromium_without_errors(
    dataset: Path, extra: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    binary = chromium()
    out = tmp_path / "r.html"
    make_report(dataset, out, capsys, *extra)
    shot = tmp_path / "shot.png"
    result = _browser(binary, f"--screenshot={shot}", "--window-size=1280,2000", out.as_uri())
    assert shot.is_file(), result.stderr
    with Image.open(shot) as image:
        lo, hi = zip(*image.convert("RGB").getextrema())
        assert lo != hi, "the screenshot is one colour"
        assert image.convert("L").getextrema()[0] < 100  # some dark text on the white page
    assert "Uncaught" not in result.stderr, result.stderr
    # errors thrown by the page's script, recorded into the DOM by a listener installed before it
    probe = tmp_path / "probe.html"
    probe.write_text(
        out.read_text(encoding="utf-8").replace("<head>", "<head>" + CATCH_ERRORS, 1), encoding="utf-8"
    )
    result = _browser(binary, "--dump-dom", "--virtual-time-budget=2000", probe.as_uri())
    dom = result.stdout
    assert "<html" in dom, result.stderr
    assert 'data-errors="' not in dom, re.findall(r'data-errors="[^"]*"', dom)
    assert re.search(r'<html[^>]*class="[^"]*\bjs\b', dom), "the page's script did not run to its end"
    assert "Uncaught" not in result.stderr and "CONSOLE" not in result.stderr, result.stderr


def test_the_error_probe_sees_an_error(tmp_path: Path) -> None:
    """The listener above does catch an error thrown by a script of the page (so its silence means something)."""
    binary = chromium()
    probe = tmp_path / "probe.html"
    probe.write_text(
        f"<!DOCTYPE html><html><head>{CATCH_ERRORS}</head><body><script>null.boom();</script></body></html>",
        encoding="utf-8",
    )
    dom = _browser(binary, "--dump-dom", "--virtual-time-budget=2000", probe.as_uri()).stdout
    assert re.search(r'data-errors="[^"]+"', dom), dom


def test_tables_sort_in_chromium(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = chromium()
    out = tmp_path / "r.html"
    make_report(BALF_SAMPLE, out, capsys)
    click = (
        "<script>window.addEventListener('load', function () {"
        " var th = document.querySelector('table.classes th[data-key=count]'); th.click(); th.click();"
        " var names = Array.prototype.map.call(document.querySelectorAll('table.classes tbody tr'),"
        " function (r) { return r.cells[2].getAttribute('data-value'); });"
        " document.body.setAttribute('data-sorted', names.join(',')); });</script>"
    )
    probe = tmp_path / "probe.html"
    probe.write_text(
        out.read_text(encoding="utf-8").replace("</body>", click + "</body>", 1), encoding="utf-8"
    )
    dom = _browser(binary, "--dump-dom", "--virtual-time-budget=2000", probe.as_uri()).stdout
    found = re.search(r'data-sorted="([^"]*)"', dom)
    assert found, dom[:500]
    counts = [int(v) for v in found.group(1).split(",")]
    assert counts == sorted(counts, reverse=True) and len(counts) == 7
