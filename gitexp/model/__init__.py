"""The run as typed records and the on-git format: run.json, config, values, history, output."""
