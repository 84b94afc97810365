"""Charts across runs: one typed spec (``spec.py``) that every renderer draws.

``build.py`` turns runs into specs (grouping, alignment, bands, thinning), and the
renderers draw a spec: ``plotlyfig.py`` (HTML), ``mplfig.py`` (PNG, SVG), ``text.py``
(the terminal), ``parallel.py`` (parallel coordinates as SVG), ``importance.py``
(which config keys move a metric), ``logged.py`` (chart specs a run logged).
"""
