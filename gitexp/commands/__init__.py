"""One module per ``gitexp`` subcommand; each exposes ``add_parser`` and ``main``."""
