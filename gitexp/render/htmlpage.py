"""The HTML page shared by the report, ``plot -o FILE.html`` and the dashboard.

The page is ``gitexp/web/page.html`` with the stylesheet and gitexp's own script inlined.
The charts are drawn by plotly.js, taken from the installed ``plotly`` Python package (it
ships the minified library) and inlined too, so a report is one file that opens offline.
The dashboard links the same script from its server instead.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from typing import TYPE_CHECKING

from gitexp._version import __version__
from gitexp.errors import GitexpError

if TYPE_CHECKING:
    from gitexp.render.bundle import Bundle

REPORT, DASHBOARD = "report", "dashboard"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def asset(name: str) -> str:
    """A file of ``gitexp/web`` (the page, its script and stylesheet)."""
    return resources.files("gitexp").joinpath("web").joinpath(name).read_text(encoding="utf-8")


def plotly_js() -> str:
    """The minified plotly.js that the ``plotly`` package carries."""
    try:
        source = resources.files("plotly").joinpath("package_data").joinpath("plotly.min.js")
        return source.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        raise GitexpError(
            "interactive charts need plotly.js, which comes with the plotly package",
            "Install it: pip install plotly",
        ) from None


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
