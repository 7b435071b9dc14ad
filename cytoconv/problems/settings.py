"""Settings of a validation run: which rules, at which severity, with which tolerances and classes.

Read from ``[tool.cytoconv.validate]`` in the nearest ``pyproject.toml`` that has that table (searched from the
working folder upward), or from ``--config FILE`` (a pyproject.toml, or a TOML file whose top level holds the
same keys); command-line options override both. A bad key or value is a usage error (exit 2), never ignored.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cytoconv.errors import UsageError
from cytoconv.problems import RULES, SEVERITIES, Fix, Severity, matching
from cytoconv.problems.findings import Finding

SECTION = ("tool", "cytoconv", "validate")
KEYS = (
    "select",
    "ignore",
    "severity",
    "tolerance",
    "pixel-tolerance",
    "area-tolerance",
    "names",
    "mask-classes",
    "channel",
)


@dataclass(frozen=True)
class Settings:
    """Everything a checker needs to know besides the file; picklable (sent to worker processes)."""

    enabled: frozenset[str] = frozenset(RULES)
    severities: Mapping[str, Severity] = field(
        default_factory=lambda: {c: r.severity for c, r in RULES.items()}
    )
    tolerance: float = 0.01  # normalised (YOLO) coordinates: how far outside [0, 1] is still only a warning
    pixel_tolerance: float = (
        1.0  # pixels (COCO, VOC): coordinates outside the image, bbox against segmentation
    )
    area_tolerance: float = 0.05  # COCO area against the raster area, relative
    names: tuple[str, ...] | None = None  # class list for every dataset (else found beside the labels)
    names_source: str | None = None  # where ``names`` came from, for messages
    mask_classes: str | None = (
        None  # value -> class map of semantic masks (cytoconv.formats.masks.maskio syntax)
    )
    channel: str | None = None  # channel of RGB(A) masks that holds the class
    source: str | None = None  # the configuration file read, if any

    def on(self, code: str) -> bool:
        """Whether rule ``code`` is enabled; a check is skipped when not."""
        return code in self.enabled

    def sink(self) -> FindingSink:
        """A problem sink (``cytoconv.problems.ProblemSink``) that turns a syntax layer's reports into findings."""
        return FindingSink(self)

    def finding(
        self,
        code: str,
        path: str,
        message: str,
        *,
        line: int | None = None,
        annotation_id: int | str | None = None,
        image_id: int | str | None = None,
        object_index: int | None = None,
        pixel_value: int | None = None,
        fix: Fix | None = None,
    ) -> Finding:
        """A Finding for ``code`` with the severity these settings give it."""
        return Finding(
            code,
            self.severities[code],
            path,
            message,
            line,
            annotation_id,
            image_id,
            object_index,
            pixel_value,
            fix,
        )


class FindingSink:
    """Collects the findings of a format's syntax layer, for the rules these settings enable."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.findings: list[Finding] = []

    def wants(self, code: str) -> bool:
        """Whether rule ``code`` is enabled, so that the syntax layer skips checks that are off."""
        return code in self.settings.enabled

    def __call__(
        self,
        code: str,
        path: str,
        message: str,
        *,
        line: int | None = None,
        image_id: int | str | None = None,
        annotation_id: int | str | None = None,
        object_index: int | None = None,
        fix: Fix | None = None,
    ) -> None:
        if code in self.settings.enabled:
            self.findings.append(
                self.settings.finding(
                    code,
                    path,
                    message,
                    line=line,
                    image_id=image_id,
                    annotation_id=annotation_id,
                    object_index=object_index,
                    fix=fix,
                )
            )


def _toml() -> Any:
    """tomllib (Python 3.11+) or its backport tomli (3.10), the same API."""
    return importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML configuration file as a dict; an unreadable or invalid file is a usage error (exit 2) that names
    it."""
    toml = _toml()
    try:
        with open(path, "rb") as fh:
            data: dict[str, Any] = toml.load(fh)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the configuration ({exc.strerror or exc})") from None
    except toml.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    return data


def _section(data: dict[str, Any]) -> dict[str, Any] | None:
    node: Any = data
    for key in SECTION:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    if not isinstance(node, dict):
        raise UsageError("[tool.cytoconv.validate] must be a table")
    return node


def find_pyproject(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The nearest pyproject.toml at or above ``start`` that has a ``[tool.cytoconv.validate]`` table."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            section = _section(read_toml(candidate))
            if section is not None:
                return candidate, section
    return None


def load(config: Path | None = None, cwd: Path | None = None, **overrides: Any) -> Settings:
    """Settings from ``config`` (or the nearest pyproject.toml), then the command line's ``overrides``
    (keys as in the TOML table with ``_`` for ``-``; ``None`` means not given)."""
    table: dict[str, Any] = {}
    source: Path | None = None
    if config is not None:
        data = read_toml(config)
        section = _section(data)
        table, source = (section if section is not None else data), config
    else:
        found = find_pyproject((cwd or Path.cwd()).resolve())
        if found is not None:
            source, table = found
    table = {str(k).replace("_", "-"): v for k, v in table.items()}
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise UsageError(
            f"{source}: unknown key(s) in the validate settings: {', '.join(unknown)} "
            f"(known: {', '.join(KEYS)})"
        )
    given = {k.replace("_", "-"): v for k, v in overrides.items() if v is not None}
    where = str(source) if source else "the settings"
    select = given.get("select", table.get("select", ["ALL"]))
    ignore = [
        *_codes_list(table.get("ignore", []), f"{where}: ignore"),
        *_codes_list(given.get("ignore", []), "--ignore"),
    ]
    enabled = set(_selected(_codes_list(select, "select"))) - set(_selected(ignore))
    severities: dict[str, Severity] = {c: r.severity for c, r in RULES.items()}
    raw_severity = table.get("severity", {})
    if not isinstance(raw_severity, dict):
        raise UsageError(f'{where}: severity must be a table such as {{CC401 = "warning"}}')
    for selector, level in raw_severity.items():
        if level not in SEVERITIES:
            raise UsageError(f"{where}: severity of {selector} must be error, warning or info, got {level!r}")
        for code in _selected([selector]):
            severities[code] = level
    here = (
        Path.cwd()
    )  # files named on the command line are relative to it, those in the settings to their file
    base = source.parent if source is not None else here
    names, names_source = (
        _names(given["names"], here, "--names")
        if "names" in given
        else _names(table.get("names"), base, f"{where}: names")
    )
    return Settings(
        enabled=frozenset(enabled),
        severities=severities,
        tolerance=_number(given.get("tolerance", table.get("tolerance", 0.01)), "tolerance"),
        pixel_tolerance=_number(
            given.get("pixel-tolerance", table.get("pixel-tolerance", 1.0)), "pixel-tolerance"
        ),
        area_tolerance=_number(
            given.get("area-tolerance", table.get("area-tolerance", 0.05)), "area-tolerance"
        ),
        names=names,
        names_source=names_source,
        mask_classes=(
            _text(given["mask-classes"], here, "--classes")
            if "mask-classes" in given
            else _text(table.get("mask-classes"), base, "mask-classes")
        ),
        channel=_text(given.get("channel", table.get("channel")), None, "channel"),
        source=str(source) if source else None,
    )


def _codes_list(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f'{what} must be a list of rule codes such as ["CC401", "CC3"]')
    return [v.strip() for v in value]


def _selected(selectors: Iterable[str]) -> list[str]:
    out: list[str] = []
    for selector in selectors:
        codes = matching(selector)
        if not codes:
            raise UsageError(
                f"{selector!r} names no rule (codes such as CC103 (`cytoconv validate --rules`), prefixes such as CC4, or ALL; "
                "see cytoconv validate --rules)"
            )
        out.extend(codes)
    return out


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise UsageError(f"{key} must be a non-negative number, got {value!r}")
    return float(value)


def _text(value: Any, base: Path | None, key: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):  # mask-classes as a TOML table: {cytoplasm = 128, cell = [128, 255]}
        parts = []
        for name, values in value.items():
            vals = values if isinstance(values, list) else [values]
            parts.append(f"{name}=" + "+".join(str(v) for v in vals))
        return ",".join(parts)
    if not isinstance(value, str):
        raise UsageError(f"{key} must be a string, got {value!r}")
    if base is not None and not Path(value).is_absolute() and (base / value).is_file():
        return str(base / value)
    return value


def _names(value: Any, base: Path, where: str) -> tuple[tuple[str, ...] | None, str | None]:
    """A class list: a TOML list, a comma-separated string, or a data.yaml / classes.txt file."""
    if value is None:
        return None, None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value), where
    if not isinstance(value, str):
        raise UsageError(f"{where} must be a list of class names or a file")
    path = Path(value) if Path(value).is_absolute() else base / value
    if path.is_file():
        from cytoconv.engine.classlists import read_names

        names, problem = read_names(path)
        if names is None:
            raise UsageError(f"{path}: {problem or 'no class names in this file'}")
        return tuple(names), str(path)
    return tuple(n.strip() for n in value.split(",") if n.strip()), where


def with_names(settings: Settings, names: tuple[str, ...] | None, source: str | None) -> Settings:
    """The settings with the class names (and where they came from) set, for the checks that need names."""
    return replace(settings, names=names, names_source=source)
