"""The JSON Schema (draft 2020-12) of ``cytoconv validate --format json``, the document ``render.as_json`` writes.

Why it exists: programs that read the report (CI jobs, dashboards) need a contract they can check, and the docs
need a description that cannot drift from the code. The docs site renders this dict at build time, and
``tests/test_docs.py`` validates the output of a real run against it and checks that every key the renderer
writes is named here (and nothing more), so a key added to ``render`` without a schema entry fails the tests.

Why objects allow additional properties: within ``cytoconv-validate/1`` keys are only ever added, never renamed
or removed, so a consumer holding this schema must still accept the output of a later 1.x release. Codes are
checked by shape (``CC`` and three digits) rather than against today's rule table, for the same reason.

Plain dicts, no imports beyond the rule table's severities: this module is cheap to import.
"""

from __future__ import annotations

from typing import Any, Final

from cytoconv.problems import SEVERITIES

SCHEMA_ID: Final = "cytoconv-validate/1"  # the value of the document's "schema" key (render.SCHEMA)

_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
_ID: dict[str, Any] = {"type": ["integer", "string", "null"]}

_FINDING: dict[str, Any] = {
    "path": {"type": "string", "description": "relative to the working folder when below it"},
    "line": {"type": ["integer", "null"], "minimum": 1, "description": "1-based, or null"},
    "code": {"type": "string", "pattern": "^CC[0-9]{3}$", "description": "the rule code"},
    "rule": {"type": "string", "description": "the rule's name (slug)"},
    "severity": {"enum": list(SEVERITIES)},
    "message": {"type": "string"},
    "image_id": {**_ID, "description": "COCO image id"},
    "annotation_id": {**_ID, "description": 'COCO annotation id; "#k" for the k-th without a usable id'},
    "object": {"type": ["integer", "null"], "minimum": 1, "description": "VOC object, 1-based in file order"},
    "pixel_value": {"type": ["integer", "null"], "description": "mask pixel value"},
    "fixable": {"type": "boolean", "description": "--fix can repair it"},
}

_SUMMARY: dict[str, Any] = {
    "files_checked": _COUNT,
    "files_skipped": _COUNT,
    "errors": _COUNT,
    "warnings": _COUNT,
    "info": _COUNT,
    "fixable": _COUNT,
    "fixed": _COUNT,
    "exit_code": {"enum": [0, 1], "description": "1 when any finding is an error"},
}


def _record(properties: dict[str, Any]) -> dict[str, Any]:
    """An object whose keys are all required (the renderer always writes every key, null when it does not
    apply) and that may gain keys in a later 1.x release."""
    return {"type": "object", "required": list(properties), "properties": properties}


FINDING_SCHEMA = _record(_FINDING)
SUMMARY_SCHEMA = _record(_SUMMARY)

_DOCUMENT: dict[str, Any] = {
    "schema": {"const": SCHEMA_ID},
    "summary": SUMMARY_SCHEMA,
    "findings": {"type": "array", "items": FINDING_SCHEMA, "description": "what remains"},
    "fixed": {
        "type": "array",
        "items": FINDING_SCHEMA,
        "description": "what --fix repaired (or --diff would)",
    },
    "skipped": {
        "type": "array",
        "items": {"type": "string"},
        "description": "paths that are not label files",
    },
}

JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "cytoconv validate --format json",
    **_record(_DOCUMENT),
}
