"""Operations on datasets and their streams: resample, crop, draw, split, stats. They take records,
plans and loaders from the engine and never import a format or the API; ``cytoconv.api`` composes them."""
