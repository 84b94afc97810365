"""The HTML page shared by the report, ``plot -o FILE.html`` and the dashboard.

The page is ``gitexp/web/page.html`` with the stylesheet and gitexp's own script inlined.
The charts are drawn by plotly.js's basic partial bundle, vendored in ``gitexp/web`` and
inlined too, so a report is one file that opens offline.
The dashboard links the same script from its server instead.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from typing import TYPE_CHECKING

from gitexp._version import __version__

if TYPE_CHECKING:
    from gitexp.render.bundle import Bundle

REPORT, DASHBOARD = "report", "dashboard"
PLOTLY_BUNDLE = "plotly-basic.min.js"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def asset(name: str) -> str:
    """A file of ``gitexp/web`` (the page, its script and stylesheet)."""
    return resources.files("gitexp").joinpath("web").joinpath(name).read_text(encoding="utf-8")


def plotly_js() -> str:
    """plotly.js's basic partial bundle (scatter, bar, pie), vendored in ``gitexp/web``
    (gitexp/web/VENDORED.md says which version and from where): 1.2 MB instead of the
    full library's 4.8 MB in every report."""
    return asset(PLOTLY_BUNDLE)


def _script_safe(text: str) -> str:
    # Inside <script>, only "</" can end the element early; "<\/" means the same in JS.
    return text.replace("</", "<\\/")


def bundle_json(bundle: Bundle) -> str:
    """The bundle as JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(bundle, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page(mode: str, title: str, bundle: Bundle | None) -> str:
    """A complete page: ``report`` inlines plotly.js and the data, ``dashboard`` links them."""
    if mode == REPORT:
        plotly = f"<script>{_script_safe(plotly_js())}</script>"
    else:
        plotly = '<script src="/assets/plotly.min.js"></script>'
    parts = {
        "version": __version__,
        "title": html.escape(title),
        "css": asset("app.css").replace("</", "<\\/"),
        "plotly": plotly,
        "mode": mode,
        "data": bundle_json(bundle) if bundle is not None else "null",
        "app": _script_safe(asset("app.js")),
    }
    # One pass over the template: inserted text is never scanned for placeholders again.
    return _PLACEHOLDER.sub(lambda m: parts[m.group(1)], asset("page.html"))
