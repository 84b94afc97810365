"""The typed core: run model, snapshot, manifest, metrics history, comparison."""
