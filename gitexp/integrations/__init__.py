"""Loggers and callbacks for the frameworks ML code already lives in (docs/integrations.md).

Each module imports its framework on import, so nothing here is imported by
``import gitexp``: a script imports the one it uses, e.g.
``from gitexp.integrations.lightning import GitexpLogger``.
"""
