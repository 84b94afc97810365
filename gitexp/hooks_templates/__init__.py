"""Templates of the git hooks ``gitexp install`` writes (a copy of the top-level hooks/)."""
