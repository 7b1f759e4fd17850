"""The ``lienthong`` command line (Typer + Rich)."""
