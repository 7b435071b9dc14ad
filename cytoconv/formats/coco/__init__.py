"""COCO JSON: syntax, reader, writer and checks."""
