"""Sharing runs through git remotes: push, pull, and the hooks that let plain git carry runs."""
