"""Showing runs: chart series, text charts, static plots, the HTML page, markdown, the ui server."""
