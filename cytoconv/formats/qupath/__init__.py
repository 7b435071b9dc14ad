"""QuPath GeoJSON: one FeatureCollection (or Feature, or array of Features) per image."""
