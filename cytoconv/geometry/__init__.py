"""Geometry in the corner model: rasterising outlines, pixel-edge tracing of masks, holes and bridges,
validity checks. The only part of cytoconv that imports pycocotools, shapely and OpenCV for geometry."""
