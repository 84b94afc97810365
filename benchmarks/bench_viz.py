"""Charts across runs: plot of a 1,000,000-step history, reports of 20 and 100 runs, and
the ui's first paint with 1,000 runs (issue 20).  Standalone:

    python benchmarks/bench_viz.py [--only plot,report,ui] [--work DIR]

Workloads are recorded once into DIR (default: a temporary folder; give --work to keep
and reuse them).  Each measurement is the median of --repeat runs; the times are wall
clock on this machine as it is (the load average is printed with them), CPU seconds
beside them.  The ui's first paint is read from Chromium's performance timeline
(``first-contentful-paint``, and the ``gx-runs-listed`` mark the page sets when the
runs table is drawn), in headless Chromium through selenium.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PY = sys.executable
RECORD = """\
import math, sys, gitexp
runs, steps = int(sys.argv[1]), int(sys.argv[2])
for i in range(runs):
    gitexp.init(name=f"r{i}", config={"lr": (0.1, 0.01, 0.001)[i % 3], "seed": i % 7,
                                      "opt": ("adam", "sgd")[i % 2]})
    for s in range(steps):
        gitexp.log({"loss": 1 / (1 + 1e-3 * s * (i % 3 + 1)) + 0.01 * math.sin(s + i),
                    "acc": s / steps})
    gitexp.finish()
"""


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("GITEXP_", "GIT_"))}
    out.update(GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.invalid")
    out.update(GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.invalid")
    return out


def workload(work: Path, name: str, runs: int, steps: int) -> Path:
    repo = work / name
    if (repo / ".git" / "bench-done").exists():
        return repo
    repo.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env())
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "start"], cwd=repo, check=True,
                   env=env())  # fmt: skip
    (work / "record.py").write_text(RECORD)
    started = time.perf_counter()
    subprocess.run([PY, str(work / "record.py"), str(runs), str(steps)], cwd=repo, check=True,
                   env=env(), capture_output=True)  # fmt: skip
    print(
        f"  recorded {name}: {runs} runs x {steps} steps in {time.perf_counter() - started:.0f} s"
    )
    (repo / ".git" / "bench-done").write_text("")
    return repo


def timed(
    args: list[str], cwd: Path, repeat: int, setup: Callable[[], object] | None = None
) -> tuple[float, float]:
    """Median wall and CPU seconds of a gitexp command line (``setup`` before each call,
    untimed)."""
    walls, cpus = [], []
    for _ in range(repeat):
        if setup is not None:
            setup()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([PY, "-m", "gitexp", *args], cwd=cwd, check=True, env=env(),
                       capture_output=True)  # fmt: skip
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def in_process(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_plot(work: Path, repeat: int) -> None:
    repo = workload(work, "plot-1m", 1, 1_000_000)
    from gitexp.git.repo import GitRepo
    from gitexp.read.listing import list_runs
    from gitexp.render.bundle import load_data
    from gitexp.render.charts import build, mplfig, plotlyfig, text

    with GitRepo.discover(str(repo)) as git:
        started = time.perf_counter()
        data = load_data(git, list_runs(git)[0])
        load = time.perf_counter() - started
    run = [build.RunCurves("r0", "#1f77b4", data.scalars)]
    png = str(work / "plot.png")
    spec = in_process(lambda: build.metric_chart("loss", run), repeat)
    terminal = in_process(lambda: text.render(build.metric_chart("loss", run)), repeat)
    image = in_process(lambda: mplfig.save(png, [build.metric_chart("loss", run)]), repeat)
    figure = in_process(lambda: plotlyfig.figure(build.metric_chart("loss", run)), repeat)
    grouped = [build.RunCurves(f"r{i}", "#1f77b4", data.scalars, "g") for i in range(3)]
    group = in_process(lambda: build.metric_chart("loss", grouped), repeat)
    print(f"plot, 1,000,000 steps: load {load:.2f} s (rows read and split, once)")
    print(f"  once loaded: spec {spec:.3f} s, text chart {terminal:.3f} s, PNG {image:.3f} s "
          f"(matplotlib import included once), plotly figure {figure:.3f} s, "
          f"group of 3 such runs {group:.3f} s")  # fmt: skip
    for label, args in (("terminal", ["plot", "loss"]), ("PNG", ["plot", "loss", "-o", png])):
        wall, cpu = timed(args, repo, repeat)
        print(f"  end to end, {label}: {wall:.2f} s wall, {cpu:.2f} s CPU")


def bench_report(work: Path, repeat: int) -> None:
    for runs, steps in ((20, 1_000), (100, 10_000)):
        repo = workload(work, f"report-{runs}x{steps}", runs, steps)
        out = work / f"report-{runs}.html"
        args = ["report", "-n", "0", "-o", str(out)]
        # Cold: no cache of thinned curves (render/charts/seriescache.py), as a first
        # report after recording or cloning; warm: the cache the cold calls wrote.
        cache = repo / ".git" / "gitexp" / "cache" / "series"
        wall, cpu = timed(args, repo, repeat, functools.partial(shutil.rmtree, cache, True))
        size = out.stat().st_size / 1e6
        warm, warm_cpu = timed(args, repo, repeat)
        grouped = work / f"report-{runs}-grouped.html"
        gwall, _ = timed(["report", "-n", "0", "--group-by", "lr", "-o", str(grouped)], repo, 1)
        gsize = grouped.stat().st_size / 1e6
        print(f"report, {runs} runs x {steps:,} steps: cold {wall:.2f} s wall, {cpu:.2f} s CPU, "
              f"{size:.2f} MB; warm {warm:.2f} s wall, {warm_cpu:.2f} s CPU; "
              f"with --group-by lr: {gwall:.2f} s, {gsize:.2f} MB")  # fmt: skip


def bench_ui(work: Path, repeat: int) -> None:
    repo = workload(work, "ui-1000", 1_000, 20)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    server = subprocess.Popen([PY, "-m", "gitexp", "ui", "--port", "0"], cwd=repo, env=env(),
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split("serving ")[1].split()[0]
        paints, listed, rows = [], [], 0
        for _ in range(repeat + 1):  # the first visit warms the server's caches
            driver.get(url)
            for _ in range(600):
                mark = driver.execute_script(
                    "const m = performance.getEntriesByName('gx-runs-listed');"
                    "return m.length ? m[0].startTime : null"
                )
                if mark is not None:
                    break
                time.sleep(0.05)
            fcp = driver.execute_script(
                "const p = performance.getEntriesByName('first-contentful-paint');"
                "return p.length ? p[0].startTime : null"
            )
            rows = driver.execute_script(
                "return document.querySelectorAll('#gx-picker-table tbody tr').length"
            )
            paints.append(fcp)
            listed.append(mark)
        paint, mark = statistics.median(paints[1:]), statistics.median(listed[1:])
        print(f"ui, 1,000 runs: first contentful paint {paint / 1000:.2f} s, runs table drawn "
              f"{mark / 1000:.2f} s after navigation ({rows} rows in the page)")  # fmt: skip
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="plot,report,ui")
    parser.add_argument("--work", help="keep the workloads in this folder (reused next time)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="gitexp-bench-viz-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; work in {work}")
    chosen = args.only.split(",")
    for name, bench in (("plot", bench_plot), ("report", bench_report), ("ui", bench_ui)):
        if name in chosen:
            bench(work, args.repeat)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
