"""The command line: a thin layer over ``cytoconv.api``. Only this package imports typer and rich."""
