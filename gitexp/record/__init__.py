"""Recording a run: start, snapshot, manifest, supervision of the command, live folder, commits."""
