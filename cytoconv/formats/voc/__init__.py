"""Pascal VOC XML: syntax, reader, writer and checks."""
