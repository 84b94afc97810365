"""gitexp.init() in a Jupyter kernel: a real notebook executed headless with nbclient."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import git, run_refs

pytestmark = pytest.mark.integration

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

CELLS = (
    "import gitexp\nrun = gitexp.init(name='first', config={'lr': 0.1})\nprint('ID', run.id)",
    "for i in range(3):\n    gitexp.log({'loss': 1 / (i + 1)})",
    # The next init() finishes the first run and starts another one.
    "run2 = gitexp.init(name='second')\nprint('ID', run2.id)",
    "gitexp.log({'acc': 0.5})\n# the kernel shuts down next: that finishes 'second'",
)


def _outputs(notebook: Any) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") or json.dumps(output.get("data", {})))
    return "".join(texts)


def _run_json(repo: Path, run_id: str) -> dict[str, Any]:
    return dict(json.loads(git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/run.json")))


def _execute(repo: Path, notebook: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    # As Jupyter Server 2 does, tell the kernel which notebook it runs.
    monkeypatch.setenv("JPY_SESSION_NAME", str(repo / "experiment.ipynb"))
    client = nbclient.NotebookClient(
        notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(repo)}}
    )
    client.execute()  # starts the kernel, runs every cell, shuts the kernel down
    return _outputs(notebook)


def test_notebook_runs_are_recorded(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbformat.write(notebook, str(repo / "experiment.ipynb"))
    output = _execute(repo, notebook, monkeypatch)
    assert "unsaved" not in output
    ids = [line.split()[1] for line in output.splitlines() if line.startswith("ID ")]
    assert len(ids) == 2 and set(ids) == set(run_refs(repo))
    first, second = (_run_json(repo, run_id) for run_id in ids)
    assert (first["name"], first["status"]) == ("first", "finished")  # by the next init
    assert (second["name"], second["status"]) == ("second", "finished")  # at kernel shutdown
    for info in (first, second):
        assert info["extra"]["notebook"] == "experiment.ipynb"
        assert info["command"][-1] == "experiment.ipynb"
    # The snapshot holds the notebook as saved.
    saved = git(repo, "show", f"refs/gitexp/runs/{ids[0]}:experiment.ipynb")
    assert "".join(json.loads(saved)["cells"][0]["source"]) == CELLS[0]
    rows = git(repo, "show", f"refs/gitexp/runs/{ids[0]}:.gitexp/history/000000.jsonl")
    assert [json.loads(line)["loss"] for line in rows.splitlines()] == [1.0, 0.5, 1 / 3]


def test_unsaved_changes_are_warned_about(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(CELLS[0]), nbformat.v4.new_code_cell(CELLS[1])]
    nbformat.write(notebook, str(repo / "experiment.ipynb"))
    # The browser's copy differs from the saved file: the init cell was edited, not saved.
    notebook.cells[0].source = CELLS[0].replace("0.1", "0.2")
    output = _execute(repo, notebook, monkeypatch)
    assert "experiment.ipynb has unsaved changes" in output
    [run_id] = run_refs(repo)
    assert _run_json(repo, run_id)["status"] == "finished"
