"""Adapters to outside systems: ``git`` (the only dulwich importer), ``artifacts`` (DVC)."""
