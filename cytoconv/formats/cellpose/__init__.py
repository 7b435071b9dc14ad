"""Cellpose GUI ``_seg.npy``: the safe loader (syntax), reader, writer and checks."""
