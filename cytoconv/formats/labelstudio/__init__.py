"""Label Studio JSON export: reader, writer, brush RLE codec and validate checks."""
