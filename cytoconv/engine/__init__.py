"""The engine: the streaming contract every format follows (plan / load / encode / sink), the ordered
process pool that runs it, atomic outputs and file discovery. It knows no format and no geometry."""
