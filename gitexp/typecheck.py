"""What gitexp's run path needs of :mod:`typing` at run time, without importing it.

Importing ``typing`` costs about 2.5 ms, a few percent of recording a run, and nothing
on the run path needs it at run time: annotations are strings (``from __future__ import
annotations``), and the type checker reads the names imported under ``if
TYPE_CHECKING:``.  So the modules ``gitexp run`` imports take ``TYPE_CHECKING`` (and
``cast``, an identity at run time) from here; mypy treats any ``TYPE_CHECKING`` as true
and sees ``typing.cast`` itself.  tests/test_run_imports.py keeps ``typing`` off the
run path.  Modules off that path import ``typing`` as usual.
"""

from __future__ import annotations

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import cast as cast
else:

    def cast(_type: object, value: object) -> object:
        """``typing.cast``: the value itself."""
        return value
