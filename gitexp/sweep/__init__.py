"""Sweeps: parameter spaces, their combinations, and which trials are done."""
