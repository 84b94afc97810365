"""The report and the dashboard in a real headless browser (Debian's chromium).

Each page must load without console errors and draw the expected series; unticking a
run must change what is drawn; the dashboard must redraw a running run's curve as it
grows.  Screenshots go to ``test-artifacts/`` (ignored by git).  Needs ``chromium`` and
``chromedriver`` (``apt-get install chromium chromium-driver``) and selenium: without
them these tests skip, except under CI (``CI`` set), where a missing browser fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from viz_runs import RUN_NAMES, isolated_env, record_seeds, record_sweep

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# GITEXP_WRITE_SCREENSHOTS=1: the screenshots docs/guide-visualize.md shows are written
# into docs/images/ too (read at import: the tests' environment clears GITEXP_ variables).
DOC_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
WRITE_DOC_SCREENSHOTS = os.environ.get("GITEXP_WRITE_SCREENSHOTS") == "1"
WAIT_SECONDS = 30.0


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None
    )
    missing = []
    if not chromium:
        missing.append("chromium")
    if not driver:
        missing.append("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install '.[test]')")
    if missing:
        reason = (
            f"browser tests need {', '.join(missing)}: apt-get install chromium chromium-driver"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide a browser: {reason}")
        pytest.skip(reason)
    assert chromium and driver
    return chromium, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver_path = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="gitexp-chromium-")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_sweep(tmp_path_factory.mktemp("browser-sweep"))


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def drawn(driver: Any, selector: str) -> dict[str, list[str]]:
    """{metric: names of the traces a chart shows}, read from plotly's own graph divs."""
    return dict(
        driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0])).map(d => "
            "[d.dataset.metric, (d.data || []).filter(t => t.showlegend !== false)"
            ".map(t => t.name)])",
            selector,
        )
    )


def screenshot(driver: Any, name: str, *, doc: bool = False) -> None:
    """A full-page screenshot into test-artifacts/; ``doc``: one docs/guide-visualize.md
    shows, also written into docs/images/ when GITEXP_WRITE_SCREENSHOTS=1."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(max(height, 800), 6000))
    driver.save_screenshot(str(ARTIFACTS / name))
    if doc and WRITE_DOC_SCREENSHOTS:
        driver.save_screenshot(str(DOC_IMAGES / name))
    driver.set_window_size(1400, 1000)


def test_report_loads_offline_and_draws_every_run(
    browser: Any, sweep: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "gitexp", "report", *RUN_NAMES, "-o", str(report)],
        cwd=sweep,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    browser.get_log("browser")  # start from an empty console
    browser.get(report.as_uri())
    wait_for(
        lambda: browser.execute_script("return document.getElementById('gx-app').dataset.loaded"),
        "the report",
    )
    charts = wait_for(lambda: drawn(browser, ".gx-chart"), "the charts")
    assert charts == {m: list(RUN_NAMES) for m in ("loss", "accuracy", "lr")}
    assert drawn(browser, ".gx-hist") == {"weights/fc1": list(RUN_NAMES)}
    best = browser.execute_script(
        "return Array.from(document.querySelectorAll('#gx-compare-table tr[data-key] td.gx-best'))"
        ".map(td => td.parentElement.dataset.key + '=' + td.textContent)"
    )
    assert best == ["metrics.loss=0.00822975 ★", "metrics.accuracy=0.997257 ★"]
    code = browser.execute_script(
        "return Array.from(document.querySelectorAll('#gx-code details.gx-diff summary'))"
        ".map(s => s.textContent)"
    )
    assert code == ["lr-0.01 → lr-0.05: same code", "lr-0.01 → lr-0.2: 1 file changed, +1 −1"]
    notes = browser.find_element("css selector", "#gx-notes").text
    assert "best-guess" in notes and "accuracy formula changed" in notes

    # Unticking a run in the runs table takes it out of every chart.
    browser.find_element(
        "css selector", f"#gx-runs-table input[data-run='{_run_id(sweep, 'lr-0.05')}']"
    ).click()
    wait_for(lambda: drawn(browser, ".gx-chart")["loss"] == ["lr-0.01", "lr-0.2"], "a redraw")
    assert drawn(browser, ".gx-hist") == {"weights/fc1": ["lr-0.01", "lr-0.2"]}
    # Smoothing adds a faint raw line under each run's smoothed one.
    browser.execute_script(
        "const s = document.getElementById('gx-smooth'); s.value = '0.8';"
        "s.dispatchEvent(new Event('input'));"
    )
    traces = browser.execute_script(
        "return document.querySelector('.gx-chart[data-metric=\"loss\"]').data.length"
    )
    assert traces == 4
    screenshot(browser, "report.png")
    assert console_errors(browser) == []


def _run_id(repo: Path, name: str) -> str:
    import json

    done = subprocess.run(
        [sys.executable, "-m", "gitexp", "ls", "--json", "--where", f'name == "{name}"'],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    (row,) = json.loads(done.stdout)
    return str(row["id"])


LIVE_SCRIPT = """\
import os, time
import gitexp
run = gitexp.init()
for step in range(2000):
    gitexp.log({"loss": 1.0 / (step + 1)})
    if os.path.exists("stop"):
        break
    time.sleep(0.05)
gitexp.finish()
"""


@pytest.fixture
def live_run(sweep: Path) -> Iterator[subprocess.Popen[str]]:
    """A run still going (it logs until a file named ``stop`` appears)."""
    (sweep / "live.py").write_text(LIVE_SCRIPT)
    env = isolated_env(sweep.parent / "home")
    process = subprocess.Popen(
        [sys.executable, "-m", "gitexp", "run", "--name", "live", "--", sys.executable, "live.py"],
        cwd=sweep,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: (
                b"live"
                in subprocess.run(
                    ["git", "for-each-ref", "--format=%(contents)", "refs/gitexp/runs"],
                    cwd=sweep,
                    capture_output=True,
                    env=env,
                ).stdout
            ),
            "the live run's ref",
        )
        yield process
    finally:
        (sweep / "stop").write_text("")
        process.wait(timeout=60)
        (sweep / "stop").unlink()
        (sweep / "live.py").unlink()


@pytest.fixture
def server(sweep: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gitexp", "ui", "--port", "0"],
        cwd=sweep,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "serving http://127.0.0.1:" in line, process.stderr.read() if process.stderr else ""
        yield line.split("serving ")[1].split()[0]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_dashboard_api_answers_only_its_own_host(server: str) -> None:
    import json
    import urllib.error
    import urllib.request

    with urllib.request.urlopen(server + "api/runs") as response:
        data = json.load(response)
    assert [r["name"] for r in data["runs"]] == list(reversed(RUN_NAMES))
    assert data["default_count"] == 5
    request = urllib.request.Request(server + "api/runs", headers={"Host": "evil.example:80"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(server + "api/runs?where=lrate%20%3C%201")
    assert bad.value.code == 400 and "unknown name 'lrate'" in json.load(bad.value)["error"]
    # The filter box resolves bare names as `gitexp ls --where` does: these runs have lr
    # both as a config key and as a logged metric, so a bare lr must be refused.
    with pytest.raises(urllib.error.HTTPError) as ambiguous:
        urllib.request.urlopen(server + "api/runs?where=lr%20%3C%201")
    assert ambiguous.value.code == 400
    assert "config.lr and metrics.lr" in json.load(ambiguous.value)["error"]
    with urllib.request.urlopen(server + "api/runs?where=config.lr%20%3C%200.1") as response:
        assert [r["name"] for r in json.load(response)["runs"]] == ["lr-0.05", "lr-0.01"]


def test_dashboard_picks_runs_and_follows_a_running_one(
    browser: Any, sweep: Path, live_run: subprocess.Popen[str], server: str
) -> None:
    browser.get_log("browser")
    browser.get(server)
    everything = ["live", *reversed(RUN_NAMES)]  # newest first, as ls shows them
    wait_for(
        lambda: drawn(browser, ".gx-chart").get("loss") == everything, "the dashboard's charts"
    )
    assert set(drawn(browser, ".gx-chart")) == {"loss", "accuracy", "lr"}

    def live_points() -> int:
        return int(
            browser.execute_script(
                "const d = document.querySelector('.gx-chart[data-metric=\"loss\"]');"
                "const t = d.data.find(t => t.name === 'live'); return t ? t.y.length : 0;"
            )
        )

    first = wait_for(live_points, "the live run's first points")
    wait_for(lambda: live_points() > first + 5, "the live curve to grow")
    status = browser.execute_script(
        "return document.querySelector('#gx-picker-table tr[data-run] td:nth-child(5)').textContent"
    )
    assert status == "running"

    # Picking runs in the table changes what is drawn.
    lr_005 = _run_id(sweep, "lr-0.05")
    browser.find_element("css selector", f"#gx-picker-table input[data-run='{lr_005}']").click()
    without = [n for n in everything if n != "lr-0.05"]
    wait_for(lambda: drawn(browser, ".gx-chart").get("loss") == without, "lr-0.05 to go")
    assert drawn(browser, ".gx-chart")["accuracy"] == ["lr-0.2", "lr-0.01"]
    assert "runs=" in browser.current_url
    browser.find_element("css selector", f"#gx-picker-table input[data-run='{lr_005}']").click()
    wait_for(lambda: drawn(browser, ".gx-chart").get("loss") == everything, "lr-0.05 to come back")
    assert drawn(browser, ".gx-hist") == {"weights/fc1": list(reversed(RUN_NAMES))}

    # The filter box takes the --where language.
    box = browser.find_element("css selector", "#gx-where")
    box.send_keys("config.lr >= 0.05\n")
    wait_for(
        lambda: len(browser.find_elements("css selector", "#gx-picker-table tbody tr")) == 2,
        "the filtered table",
    )
    screenshot(browser, "dashboard.png")
    assert console_errors(browser) == []


CRAFTED_NAME = "<img src=x onerror=\"window.__pwned=1;document.title='pwned'\">"
CRAFTED_METRIC = '<a href="javascript:window.__pwned=2">x</a><img src=y onerror="window.__pwned=3">'


def test_a_crafted_run_name_never_runs_in_the_report(browser: Any, tmp_path: Path) -> None:
    """Issue 16, point 5: names, metric keys, tags and notes reach the page as text, in the
    page's own elements and in plotly's titles and legends alike."""
    from conftest import git

    home = tmp_path / "home"
    home.mkdir()
    env = isolated_env(home)
    repo = tmp_path / "crafted"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.py").write_text(
        "import gitexp\ngitexp.init()\n"
        f"for step in range(3):\n    gitexp.log({{{CRAFTED_METRIC!r}: step}})\n"
        "gitexp.finish()\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "crafted")
    for flag in ("", "2"):
        subprocess.run(
            [
                *(sys.executable, "-m", "gitexp", "run", "--name", CRAFTED_NAME + flag),
                *("--tag", CRAFTED_NAME, "--note", CRAFTED_NAME, "--", sys.executable, "train.py"),
            ],
            cwd=repo,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    report = tmp_path / "report.html"
    subprocess.run(
        [sys.executable, "-m", "gitexp", "report", "-o", str(report), "--title", "crafted"],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    browser.get_log("browser")  # start from an empty console (the dashboard test's)
    browser.get(report.as_uri())
    wait_for(
        lambda: browser.execute_script("return document.getElementById('gx-app').dataset.loaded"),
        "the report",
    )
    wait_for(lambda: drawn(browser, ".gx-chart"), "the charts")
    time.sleep(0.5)  # an injected <img src=x> would have failed to load and fired by now
    found = browser.execute_script(
        "return {pwned: window.__pwned === undefined ? null : window.__pwned,"
        " title: document.title,"
        " images: document.querySelectorAll('img').length,"
        " links: Array.from(document.querySelectorAll('a')).map(a =>"
        "   a.getAttribute('href') || a.getAttribute('xlink:href') || ''),"
        " legend: Array.from(document.querySelectorAll('.gx-chart .legendtext'))"
        "   .map(t => t.textContent),"
        " chartTitle: Array.from(document.querySelectorAll('.gx-chart .gtitle'))"
        "   .map(t => t.textContent)}"
    )
    assert found["pwned"] is None and found["title"] == "crafted"
    assert found["images"] == 0
    assert not [href for href in found["links"] if "javascript" in href]
    assert CRAFTED_NAME in found["legend"]  # shown as the text it is
    assert found["chartTitle"] == [CRAFTED_METRIC]
    notes = browser.find_element("css selector", "#gx-notes").text
    assert "<img src=x" in notes
    assert console_errors(browser) == []


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_seeds(tmp_path_factory.mktemp("browser-seeds"))


def test_report_panels_across_runs_draw_without_errors(
    browser: Any, seeds: Path, tmp_path: Path
) -> None:
    intro = tmp_path / "intro.md"
    intro.write_text("# A learning-rate sweep\n\nTwo rates, two seeds each. <b>as written</b>\n")
    report = tmp_path / "panels.html"
    args = ("report", "-n", "0", "--group-by", "lr", "--intro", str(intro), "-o", str(report))
    done = subprocess.run(
        [sys.executable, "-m", "gitexp", *args],
        cwd=seeds,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    browser.get_log("browser")
    browser.get(report.as_uri())
    wait_for(
        lambda: browser.execute_script("return document.getElementById('gx-app').dataset.loaded"),
        "the report",
    )
    groups = wait_for(lambda: drawn(browser, "#gx-figures .gx-figure"), "the grouped curves")
    assert groups == {m: ["lr=0.5 (2 runs)", "lr=0.1 (2 runs)"] for m in ("loss", "epoch")}
    lines = browser.execute_script(
        "return document.querySelectorAll('#gx-parallel polyline').length"
    )
    assert lines == 4
    keys = browser.execute_script(
        "return Array.from(document.querySelectorAll('#gx-importance-table tr[data-key]'))"
        ".map(tr => tr.dataset.key)"
    )
    assert keys[0] == "lr" and set(keys) == {"lr", "seed", "opt"}
    best = browser.find_element("css selector", "#gx-best").text
    assert "lowest final" in best or "lowest loss" in best
    assert browser.find_element("css selector", "#gx-intro").text.endswith("<b>as written</b>")
    screenshot(browser, "report-panels.png", doc=True)
    assert console_errors(browser) == []


MANY_SCRIPT = """\
import sys
import gitexp

for i in range(int(sys.argv[1])):
    gitexp.init(name=f"r{i:03d}", config={"lr": (0.1, 0.01)[i % 2], "seed": i % 5})
    for step in range(10):
        gitexp.log({"loss": 1 / (1 + (i % 2 + 1) * step) + 0.01 * (i % 5)})
    gitexp.finish()
"""
MANY = 150


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository of MANY runs, recorded in one process (a minute's worth of runs)."""
    root = tmp_path_factory.mktemp("many")
    home = root / "home"
    home.mkdir()
    env = isolated_env(home)
    repo = root / "project"
    repo.mkdir()
    for args in (("init", "-q"), ("commit", "-q", "--allow-empty", "-m", "start")):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    (root / "many.py").write_text(MANY_SCRIPT)
    subprocess.run(
        [sys.executable, str(root / "many.py"), str(MANY)],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return repo


@pytest.mark.slow
def test_dashboard_lists_many_runs_virtually_and_works_from_the_keyboard(
    browser: Any, many: Path
) -> None:
    from selenium.webdriver.common.keys import Keys

    process = subprocess.Popen(
        [sys.executable, "-m", "gitexp", "ui", "--port", "0"],
        cwd=many,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split("serving ")[1].split()[0]
        browser.get_log("browser")
        browser.get(url)
        wait_for(lambda: drawn(browser, ".gx-chart").get("loss"), "the dashboard")

        def rows() -> list[str]:
            return list(
                browser.execute_script(
                    "return Array.from(document.querySelectorAll('#gx-picker-table tbody tr'))"
                    ".map(tr => tr.querySelector('td:nth-child(3)').textContent)"
                )
            )

        shown = rows()
        assert 10 < len(shown) < 60 and shown[0] == f"r{MANY - 1:03d}"  # a window, newest first
        # Scrolling to the end draws the last rows, still only a window of them.
        browser.execute_script(
            "const b = document.querySelector('.gx-picker'); b.scrollTop = b.scrollHeight;"
        )
        wait_for(lambda: rows()[-1] == "r000", "the last rows")
        assert len(rows()) < 60
        # Keyboard: Home, six rows down (past the 5 runs drawn at first), space ticks it.
        picker = browser.find_element("css selector", ".gx-picker")
        picker.send_keys(Keys.HOME, *[Keys.ARROW_DOWN] * 6, " ")
        name = f"r{MANY - 7:03d}"
        wait_for(lambda: name in drawn(browser, ".gx-chart").get("loss", []), "the ticked run")
        cursor = browser.execute_script(
            "return document.querySelector('#gx-picker-table tr.gx-cursor td:nth-child(3)')"
            ".textContent"
        )
        assert cursor == name
        # Groups: the server aligns and averages; the page draws what it sends.
        box = browser.find_element("css selector", "#gx-group-by")
        box.send_keys("lr\n")
        groups = wait_for(lambda: drawn(browser, "#gx-figures .gx-figure").get("loss"), "groups")
        assert sorted(groups) == ["lr=0.01 (4 runs)", "lr=0.1 (2 runs)"]  # odd i: lr=0.01
        # The x axis control reaches the server's groups: time since the start.
        browser.execute_script(
            "const x = document.getElementById('gx-x'); x.value = 'time';"
            "x.dispatchEvent(new Event('change'));"
        )
        wait_for(
            lambda: browser.execute_script(
                "const d = document.querySelector('#gx-figures .gx-figure');"
                "return d && d.layout.xaxis.title.text === 'seconds since start'"
            ),
            "groups over time",
        )
        screenshot(browser, "dashboard-groups.png", doc=True)
        assert console_errors(browser) == []
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_report_draws_media_panels_and_runs_nothing_a_run_wrote(
    browser: Any, tmp_path: Path
) -> None:
    """Issue 20: image strip with a step slider, a table whose cell is a <script>, an html
    file in a sandboxed iframe, a confusion matrix and a ROC curve, in Chromium."""
    from conftest import git
    from test_media_panels import CRAFTED, SCRIPT

    home = tmp_path / "home"
    home.mkdir()
    env = isolated_env(home)
    repo = tmp_path / "media"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.py").write_text(SCRIPT)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "media")
    report = tmp_path / "media.html"
    for args in (("run", sys.executable, "train.py"), ("report", "-o", str(report))):
        done = subprocess.run(
            [sys.executable, "-m", "gitexp", *args],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    browser.get_log("browser")
    browser.get(report.as_uri())
    wait_for(
        lambda: browser.execute_script("return document.getElementById('gx-app').dataset.loaded"),
        "the report",
    )
    charts = wait_for(lambda: drawn(browser, "#gx-media .gx-figure"), "the logged charts")
    assert set(charts) == {"cm", "roc"}
    time.sleep(0.5)  # an injected <img src=x> would have failed to load and fired by now
    found = browser.execute_script(
        "const img = document.querySelector('#gx-media [data-key=samples] img');"
        "const first = img.src;"
        "const slider = document.querySelector('#gx-media [data-key=samples] input');"
        "slider.value = '0'; slider.dispatchEvent(new Event('input'));"
        "const frame = document.querySelector('#gx-media iframe');"
        "return {pwned: window.__pwned === undefined ? null : window.__pwned,"
        " changed: first !== img.src, shown: img.naturalWidth,"
        " label: document.querySelector('#gx-media [data-key=samples] .gx-step-label').textContent,"
        " cells: Array.from(document.querySelectorAll('#gx-media td')).map(t => t.textContent),"
        " sandbox: frame.getAttribute('sandbox'),"
        " audio: document.querySelectorAll('#gx-media audio').length}"
    )
    assert found["pwned"] is None
    assert found["changed"] and found["shown"] == 10 and found["label"] == "step 0 · s0"
    assert CRAFTED in found["cells"] and "a & b" in found["cells"]
    assert found["sandbox"] == "" and found["audio"] == 1
    screenshot(browser, "report-media.png", doc=True)
    # The html file's own script is blocked by the sandbox, which Chromium reports.
    errors = [e for e in console_errors(browser) if "sandboxed" not in e]
    assert errors == []


WANDB_SCRIPT = """
import numpy as np
import gitexp as wandb

run = wandb.init(project="e2e", config={"lr": 0.1, "epochs": 3}, tags=["e2e"])
wandb.define_metric("loss", summary="min")
for step in range(3):
    pixels = (np.arange(6 * 8).reshape(6, 8) * (step + 1) % 256).astype(np.uint8)
    wandb.log({"loss": 1.0 / (step + 1), "acc": 0.5 + step / 10,
               "sample": wandb.Image(pixels, caption=f"step {step}")})
table = wandb.Table(columns=["id", "label"], data=[[1, "cat"], [2, "dog"]])
wandb.log({"preds": table,
           "cm": wandb.plot.confusion_matrix(y_true=[0, 1, 1, 0], preds=[0, 1, 0, 0],
                                              class_names=["cat", "dog"])})
with open("weights.bin", "wb") as handle:
    handle.write(bytes(range(256)) * 64)
model = wandb.Artifact("model", type="model", metadata={"layers": 2})
model.add_file("weights.bin")
run.log_artifact(model, aliases=["best"])
wandb.alert(title="done", text="loss went down", level="INFO")
wandb.finish()
"""


def test_a_wandb_script_reads_back_through_the_api_and_reports_in_chromium(
    browser: Any, tmp_path: Path
) -> None:
    """Issue 18: one wandb-style script using media, a table, a chart, an artifact and an
    alert; everything read back through gitexp.Api; the report opened in Chromium."""
    from conftest import git

    home = tmp_path / "home"
    home.mkdir()
    env = isolated_env(home)
    repo = tmp_path / "e2e"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.py").write_text(WANDB_SCRIPT)
    (repo / ".gitignore").write_text("weights.bin\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "e2e")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, env=env, check=True)
    report = tmp_path / "e2e.html"
    for args in (("run", sys.executable, "train.py"), ("report", "-o", str(report))):
        done = subprocess.run(
            [sys.executable, "-m", "gitexp", *args],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr

    code = """
import json, sys, gitexp
api = gitexp.Api()
(run,) = api.runs("e2e")
rows = list(run.scan_history())
frame = run.history()
print(json.dumps({
    "config": run.config, "summary_loss": run.summary["loss"], "tags": run.tags,
    "steps": [r["_step"] for r in rows if "loss" in r],
    "images": [r["sample"]["_type"] for r in rows if "sample" in r],
    "table": [r["preds"]["_type"] for r in rows if "preds" in r],
    "chart": [r["cm"].get("chart") for r in rows if "cm" in r],
    "artifacts": [a.name for a in run.logged_artifacts()],
    "files": run.files(), "columns": sorted(frame.columns),
}, default=str))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["config"]["lr"] == 0.1 and seen["tags"] == ["e2e"]
    assert seen["summary_loss"] == pytest.approx(1 / 3)  # define_metric(summary="min")
    assert seen["steps"] == [0, 1, 2]
    assert {"_step", "loss", "acc", "sample"} <= set(seen["columns"])  # a pandas DataFrame
    assert seen["images"] == ["image-file"] * 3
    assert seen["table"] == ["table-file"] and seen["chart"] == ["confusion_matrix"]
    assert any(name.startswith("model") for name in seen["artifacts"]), seen["artifacts"]
    assert ".gitexp/alerts.jsonl" in seen["files"]
    assert sum(path.startswith(".gitexp/media/sample/") for path in seen["files"]) >= 3

    browser.get_log("browser")
    browser.get(report.as_uri())
    wait_for(
        lambda: browser.execute_script("return document.getElementById('gx-app').dataset.loaded"),
        "the report",
    )
    charts = wait_for(lambda: drawn(browser, "#gx-media .gx-figure"), "the logged chart")
    assert "cm" in charts
    assert console_errors(browser) == []
