"""Sweeps: parameter spaces, their combinations, and which trials are done.

This package is also ``gitexp.sweep``, which a wandb script calls as
``wandb.sweep(config)``: once any module of the package is imported, Python makes the
package the attribute ``sweep`` of ``gitexp``, replacing the function there.  So the
package answers that call itself, as sdk/surface.py's ``sweep`` does (one warning; an id
that ``gitexp.agent`` accepts).
"""

from __future__ import annotations

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: object, **kwargs: object) -> str:
        from gitexp.sdk.surface import sweep

        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
