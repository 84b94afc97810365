"""Finding and comparing runs: references, the listing cache, ``--where``/``--sort``, diffs."""
