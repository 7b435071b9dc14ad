"""CVAT for images 1.1 XML: syntax, reader, writer and checks."""
