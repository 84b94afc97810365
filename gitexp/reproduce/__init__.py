"""Bringing a run back: restore into the work tree, a branch of its code, rerun with a verdict."""
