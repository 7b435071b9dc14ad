"""XML as the annotation tools write it, read safely: the one XML parser under VOC, CVAT and the slide XMLs.

defusedxml with DTDs forbidden (no entity expansion, nothing fetched), the line of every element a message may
name recorded as it is parsed (the element tree keeps no lines), and every way bytes can fail to be XML (not
well-formed, a DTD, an entity, an encoding Python does not know) reported as CC002 at its line, never raised.
Each format's syntax module says which elements it wants lines for and reads the tree itself.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import cache
from typing import TYPE_CHECKING, Any

from cytoconv.problems import ProblemSink

if TYPE_CHECKING:  # ElementTree is imported on first parse: detection and start-up never need it
    from xml.etree.ElementTree import Element, TreeBuilder

Parsed = tuple["Element", dict[int, int]]
"""The root element, and the line of each recorded element by ``id(element)``."""


def parse(
    data: bytes,
    path: str,
    sink: ProblemSink,
    lined: Collection[str],
    kind: str,
    fast: Callable[[bytes], Parsed | None] | None = None,
) -> Parsed | None:
    """The root element and the line of every element whose tag is in ``lined``; None after reporting CC002 to
    ``sink``. ``kind`` names the files in the DTD refusal ("VOC files need none"). ``fast`` is a format's own
    quicker parse for files it can vouch for (None from it: parse here); its failures are reported alike."""
    from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
    from defusedxml.ElementTree import DefusedXMLParser, ParseError

    line: int | None = None
    try:
        parsed = fast(data) if fast is not None else None
        if parsed is not None:
            return parsed
        builder = _line_builder()(frozenset(lined))
        parser = DefusedXMLParser(target=builder, forbid_dtd=True)
        builder.expat = parser.parser
        parser.feed(data)
        return parser.close(), builder.lines
    except DTDForbidden as exc:
        message = (
            f"the XML declares a DTD (<!DOCTYPE {exc.name}>); refused: DTDs carry entity expansion "
            f"(billion laughs) and external entities, and {kind} need none"
        )
    except EntitiesForbidden as exc:
        message = f"the XML declares an entity ({exc.name!r}); refused: no entity expansion"
    except ExternalReferenceForbidden:
        message = "the XML refers to an external entity; refused (nothing is fetched)"
    except ParseError as exc:
        line = getattr(exc, "position", (None, None))[0]
        message = f"not well-formed XML ({str(exc).split(': line')[0]})"
    except (LookupError, ValueError) as exc:  # an unknown or undecodable encoding in the declaration
        message = f"not readable XML ({exc})"
    if sink.wants("CC002"):
        sink("CC002", path, message, line=line)
    return None


@cache
def _line_builder() -> Any:
    """The tree builder that notes the line of each wanted start tag; made on first use, so that importing a
    format never imports ElementTree."""
    from xml.etree.ElementTree import TreeBuilder

    class LineBuilder(TreeBuilder):
        """Builds the tree as usual, noting ``expat``'s line at each start tag in ``lined``."""

        expat: Any = None

        def __init__(self, lined: frozenset[str]) -> None:
            super().__init__()
            self.lined = lined
            self.lines: dict[int, int] = {}

        def start(self, tag: str, attrs: dict[str, str]) -> Element:
            """Build the element, noting its line when its tag is wanted."""
            element = super().start(tag, attrs)
            if tag in self.lined:
                self.lines[id(element)] = self.expat.CurrentLineNumber
            return element

    builder: type[TreeBuilder] = LineBuilder
    return builder


def number(text: str | None) -> float | None:
    """A finite number from an element's text or attribute, or None (missing, not a number, NaN or infinite)."""
    import math

    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
