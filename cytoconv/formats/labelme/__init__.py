"""LabelMe JSON, one file per image: ``syntax`` (the parser and checks), ``reader``, ``writer``, ``check``."""
