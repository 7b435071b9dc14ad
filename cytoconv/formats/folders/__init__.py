"""Class folders (``<class>/<image>``): reader, writer and checks."""
