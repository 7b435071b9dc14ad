"""Aperio ImageScope XML and ASAP XML: whole-slide annotation files, one per image (``aperio``, ``asap``)."""
