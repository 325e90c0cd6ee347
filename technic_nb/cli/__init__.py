"""The ``technic-nb`` terminal command (``technic_nb.cli.command:main``)."""

from technic_nb.cli.command import build_parser, main

__all__ = ["build_parser", "main"]
