"""The ``gitexp ui`` server: the dashboard page and the JSON it draws, on 127.0.0.1 only.

Routes: ``/`` (the page), ``/assets/plotly.min.js``, ``/api/runs?where=EXPR`` (every run's
listing row), ``/api/bundle?runs=ID,ID&group=KEY,KEY`` (what the report holds, for
those runs, with the groups' curves when ``group`` names config keys) and
``/api/media?run=ID&path=PATH`` (an image, audio or video file the run logged: the path
must be one of the run's own references, read through read/media.py).  A
finished run's data is cached by commit id (commits never change); a running run's
history is re-read from its live folder on each request, so its curves grow while it
trains.  With ``gitexp ui --pull REMOTE``, a thread pulls the remote's runs
(share/livepull.py) and ``/api/runs`` says how the last round went (``pull``).  Requests
whose Host header is not this server's are refused, so a web page in
the same browser cannot reach the runs through DNS rebinding.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

from gitexp.errors import GitexpError
from gitexp.git.repo import GitRepo
from gitexp.read.listing import RunEntry, list_runs
from gitexp.read.projects import in_project
from gitexp.read.selection import DEFAULT_CHART_RUNS, select
from gitexp.read.trust import check_runs, describe, listed
from gitexp.record.keeper import recover_stale_runs
from gitexp.render import bundle as bundlemod
from gitexp.render import htmlpage
from gitexp.render.cells import printable

if TYPE_CHECKING:
    from gitexp.render.bundle import Bundle

HOST = "127.0.0.1"
DEFAULT_PORT = 8765  # `gitexp ui`'s; run.url points at it
MAX_CACHED_RUNS = 200


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, repo_root: str, port: int, project: str | None = None) -> None:
        super().__init__((HOST, port), _Handler)
        self.repo_root = repo_root
        self.project = project  # `gitexp ui --project P`: only that project's runs
        self.repository = os.path.basename(repo_root.rstrip(os.sep))
        self.lock = threading.Lock()  # one request reads the repository at a time
        self.cache: dict[tuple[str, bytes], bundlemod.RunData] = {}
        self._plotly: bytes | None = None
        self.warned: set[str] = set()
        # `gitexp ui --pull`: what the pulling thread says of itself (share/livepull.py),
        # shown on the page beside the count of runs.
        self.pulling: Callable[[], dict[str, object]] | None = None

    def handle_error(self, request: object, client_address: object) -> None:
        # A page reloaded or closed while its request was read is no error to print.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def plotly(self) -> bytes:
        if self._plotly is None:
            self._plotly = htmlpage.plotly_js().encode("utf-8")
        return self._plotly

    # -- the API -------------------------------------------------------------------------

    def runs_json(self, where: str | None) -> dict[str, object]:
        with self.lock, GitRepo.discover(self.repo_root) as repo:
            recover_stale_runs(repo)
            every = in_project(repo, listed(list_runs(repo), self.warn), self.project)
            chosen = select(repo, every, where) if where else every
        return {
            "repository": self.repository,
            "pull": self.pulling() if self.pulling is not None else None,
            "total": len(every),
            "default_count": DEFAULT_CHART_RUNS,
            "runs": [
                {
                    "id": e.id,
                    "commit": e.commit.decode(),
                    "name": e.name,
                    "status": e.status,
                    "start": e.row.get("start"),
                    "end": e.row.get("end"),
                    "tags": e.row.get("tags") or [],
                }
                for e in chosen
            ],
        }

    def bundle_json(
        self,
        ids: list[str],
        group_by: list[str] | None = None,
        smooth: float = 0.0,
        x_axis: str | None = None,
    ) -> Bundle:
        with self.lock, GitRepo.discover(self.repo_root) as repo:
            by_id = {entry.id: entry for entry in self._checked(repo, set(ids))}
            runs = [self._data(repo, by_id[run_id]) for run_id in ids if run_id in by_id]
            data = bundlemod.build(repo, runs, title="gitexp ui")
            from gitexp.read.media import media_file
            from gitexp.render.charts import panels  # numpy: loaded by the first request

            def read(run: bundlemod.RunData, ref: object) -> bytes:
                return media_file(repo, run.view.entry.commit, ref)

            # The report's panels; no random forest: the page asks again every 2 seconds
            # while a run is going, and rank correlations cost next to nothing.  Images,
            # audio and video are linked (/api/media), not embedded.
            panels.add(data, runs, group_by=group_by or (), forest=False, smooth=smooth,
                       x_axis=x_axis, read=read, link=_media_url)  # fmt: skip
        # A run deleted since the page listed it is reported, so the page drops it.
        data["missing"] = [run_id for run_id in ids if run_id not in by_id]
        return data

    def media(self, run_id: str, path: str) -> tuple[str, bytes] | None:
        """A media file of a run (content type, bytes), or None.  The path a request
        names only picks one of the run's own history references; the file is read
        through read/media.py (checked, from the run's tree, hash compared)."""
        from gitexp.read.media import media_file
        from gitexp.render.charts.logged import mime_of

        with self.lock, GitRepo.discover(self.repo_root) as repo:
            entry = next(iter(self._checked(repo, {run_id})), None)
            if entry is None:
                return None
            data = self._data(repo, entry)
            for logged in data.media.values():
                for _step, value in logged:
                    for ref in value if isinstance(value, list) else [value]:
                        mime = mime_of(ref) if isinstance(ref, dict) else None
                        if mime is not None and isinstance(ref, dict) and ref["path"] == path:
                            return mime, media_file(repo, entry.commit, ref)
        return None

    def _checked(self, repo: GitRepo, ids: set[str]) -> list[RunEntry]:
        """The runs of ``ids`` that pass the checks; only those are checked: the page asks
        every 2 seconds while a run goes, and a repository may hold 100,000 runs."""
        asked = [entry for entry in listed(list_runs(repo), self.warn) if entry.id in ids]
        found = check_runs(repo, {entry.id: entry.commit for entry in asked})
        for run_id, problem in found.items():
            if problem:
                self.warn(f"skipped quarantined run {describe(run_id, problem)}")
        return [entry for entry in asked if not found.get(entry.id)]

    def warn(self, message: str) -> None:
        """A quarantined run is reported once per server, not at every refresh of the page."""
        if message not in self.warned:
            self.warned.add(message)
            print(f"gitexp: {printable(message)}", file=sys.stderr, flush=True)

    def _data(self, repo: GitRepo, entry: RunEntry) -> bundlemod.RunData:
        key = (entry.id, entry.commit)
        cached = self.cache.get(key)
        if cached is not None and not cached.live:
            return cached
        data = bundlemod.load_data(repo, entry)
        if len(self.cache) >= MAX_CACHED_RUNS:
            self.cache.clear()
        self.cache[key] = data
        return data


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # a polling page would fill the terminal; errors are answered, not logged

    def do_GET(self) -> None:
        host = self.headers.get("Host", "")
        if host not in (f"{HOST}:{self.server.port}", f"localhost:{self.server.port}"):
            self._json(403, {"error": "this server answers only requests for its own address"})
            return
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            if url.path in ("/", "/index.html"):
                page = htmlpage.page(htmlpage.DASHBOARD, "gitexp ui", None)
                self._send(200, "text/html; charset=utf-8", page.encode("utf-8"))
            elif url.path == "/assets/plotly.min.js":
                self._send(200, "text/javascript; charset=utf-8", self.server.plotly(), cache=True)
            elif url.path == "/api/runs":
                where = (query.get("where") or [""])[0].strip() or None
                self._json(200, self.server.runs_json(where))
            elif url.path == "/api/bundle":
                ids = [i for i in (query.get("runs") or [""])[0].split(",") if i]
                group = [k.strip() for k in (query.get("group") or [""])[0].split(",")]
                smooth = _smoothing((query.get("smooth") or ["0"])[0])
                axis = (query.get("x") or [""])[0]
                x_axis = axis if axis in ("step", "time", "wall") else None
                data = self.server.bundle_json(ids, [k for k in group if k], smooth, x_axis)
                self._json(200, data)
            elif url.path == "/api/media":
                run_id = (query.get("run") or [""])[0]
                found = self.server.media(run_id, (query.get("path") or [""])[0])
                if found is None:
                    self._json(404, {"error": "the run has no such media file"})
                else:
                    self._send(200, found[0], found[1], cache=True, sandbox=True)
            else:
                self._json(404, {"error": f"no such page: {url.path}"})
        except GitexpError as exc:
            self._json(400, {"error": str(exc)})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away (closed or reloaded) before the answer
        except Exception as exc:  # a bug: say so on the page, show the traceback here
            import traceback

            traceback.print_exc()
            self._json(500, {"error": f"internal error in gitexp ui: {exc!r}"})

    def _json(self, status: int, data: Mapping[str, object]) -> None:
        body = json.dumps(data, allow_nan=False, separators=(",", ":")).encode("utf-8")
        self._send(status, "application/json", body)

    def _send(
        self, status: int, kind: str, body: bytes, cache: bool = False, sandbox: bool = False
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if sandbox:  # a media file opened on its own runs nothing, reaches nothing
            self.send_header("Content-Security-Policy", "sandbox")
        self.end_headers()
        self.wfile.write(body)


def _media_url(run: bundlemod.RunData, ref: dict[str, object]) -> str:
    # The page sets it as an attribute (never parsed as markup); urlencode quotes the rest.
    query = urlencode({"run": run.view.info.id, "path": str(ref.get("path"))})
    return f"/api/media?{query}"


def _smoothing(text: str) -> float:
    """The page's smoothing, 0 to 0.99; anything else is no smoothing."""
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return value if 0 <= value < 1 else 0.0


def serve(repo_root: str, port: int, project: str | None = None) -> DashboardServer:
    """A started-up server (call ``serve_forever``); port 0 picks a free port."""
    return DashboardServer(repo_root, port, project)
