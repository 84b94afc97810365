"""Media, tables and charts (issue 18, part 2): what a script logs, read back with git.

One module-scoped run logs every kind of media through ``gitexp run``; the tests check
with the ``git`` binary that each file is in the run's tree with the bytes the script
meant (a PNG decodes to the same pixels, a WAV has the right header), that the history
rows hold references whose hashes match, and that ``gitexp show`` lists them.  The
curves are checked against numpy and a case small enough to compute by hand.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import git, gitexp, require, run_refs

import gitexp as gx
from gitexp.media import curves
from gitexp.model import validate

PIL = pytest.importorskip("PIL.Image")  # the test extra installs pillow

# The arrays the script logs, rebuilt here to compare pixels and samples.
GREY = (np.arange(12 * 16).reshape(12, 16) % 256).astype(np.uint8)
RGB_FLOAT = np.linspace(0.0, 1.0, 8 * 8 * 3).reshape(8, 8, 3)
SOUND = np.sin(np.linspace(0.0, 200.0, 1600)) * 0.5
Y_TRUE = [0, 1, 2, 2, 1, 0, 2, 1, 1, 0]
PREDS = [0, 2, 2, 2, 1, 0, 1, 1, 0, 0]

SCRIPT = """
import sys
import numpy as np
import pandas as pd
from PIL import Image as PILImage
import gitexp

GREY = (np.arange(12 * 16).reshape(12, 16) % 256).astype(np.uint8)
RGB_FLOAT = np.linspace(0.0, 1.0, 8 * 8 * 3).reshape(8, 8, 3)
SOUND = np.sin(np.linspace(0.0, 200.0, 1600)) * 0.5

gitexp.init(config={"lr": 0.1})
PILImage.fromarray(GREY).save("outputs/drawn.png")
gitexp.log({"loss": 1.0})
boxes = {"predictions": {"box_data": [{"position": {"minX": 0.1, "maxX": 0.5, "minY": 0.2,
         "maxY": 0.6}, "class_id": 1}], "class_labels": {1: "cat"}}}
gitexp.log({
    "grey": gitexp.Image(GREY, caption="a ramp", boxes=boxes),
    "rgb": gitexp.Image(RGB_FLOAT),
    "pil": gitexp.Image(PILImage.fromarray(GREY)),
    "file": gitexp.Image("outputs/drawn.png"),
    "samples": gitexp.Table(columns=["id", "picture", "score"],
                            data=[[1, gitexp.Image(GREY), 0.5], [2, None, np.float32(0.25)]]),
    "frame": gitexp.Table(dataframe=pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})),
    "page": gitexp.Html("<h1>hello</h1>"),
    "sound": gitexp.Audio(SOUND, sample_rate=8000, caption="sine"),
    "clip": gitexp.Video(np.arange(3, dtype=np.uint8).reshape(3, 1, 1, 1) * 80
                          + np.zeros((3, 3, 4, 5), dtype=np.uint8), fps=2),
    "gallery": [gitexp.Image(GREY), gitexp.Image(GREY.T)],
}, step=4)
gitexp.log({
    "cm": gitexp.plot.confusion_matrix(y_true=Y_TRUE, preds=PREDS,
                                       class_names=["a", "b", "c"]),
    "roc": gitexp.plot.roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]),
    "pr": gitexp.plot.pr_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]),
    "series": gitexp.plot.line_series([1, 2, 3], [[1, 4, 9], [1, 2, 3]], keys=["sq", "id"]),
})
gitexp.log({"loss": 0.5})
gitexp.finish()
""".replace("Y_TRUE", repr(Y_TRUE)).replace("PREDS", repr(PREDS))


def blob(repo: Path, run_id: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "blob", f"refs/gitexp/runs/{run_id}:{path}"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout


def rows(repo: Path, run_id: str) -> list[dict[str, Any]]:
    text = blob(repo, run_id, ".gitexp/history/000000.jsonl").decode()
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def media_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require("pandas")
    from conftest import pin_environment

    with pytest.MonkeyPatch.context() as patch:
        pin_environment(patch, tmp_path_factory.mktemp("home"))
        repo = tmp_path_factory.mktemp("media") / "project"
        repo.mkdir()
        git(repo, "init", "-q")
        (repo / "train.py").write_text(SCRIPT)
        (repo / ".gitignore").write_text("outputs/\n")
        (repo / "outputs").mkdir()
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "initial")
        done = gitexp("run", sys.executable, "train.py", cwd=repo, timeout=180)
        assert done.returncode == 0, done.stderr
        (run_id,) = run_refs(repo)
        shown = gitexp("show", run_id, cwd=repo)
        shown_json = gitexp("show", run_id, "--json", cwd=repo)
    return {
        "repo": repo,
        "id": run_id,
        "rows": rows(repo, run_id),
        "stderr": done.stderr,
        "show": shown,
        "show_json": shown_json,
    }


def logged(run: dict[str, Any], key: str) -> Any:
    (value,) = [row[key] for row in run["rows"] if key in row]
    return value


def check_file(run: dict[str, Any], ref: dict[str, Any]) -> bytes:
    """The referenced file, read with git: its hash and size are the reference's."""
    assert validate.check_media_ref(ref) is None
    data = blob(run["repo"], run["id"], ref["path"])
    assert hashlib.sha256(data).hexdigest() == ref["sha256"]
    assert len(data) == ref["size"]
    return data


@pytest.mark.slow
def test_images_are_pngs_in_the_runs_tree_with_the_logged_pixels(media_run: dict[str, Any]) -> None:
    grey = logged(media_run, "grey")
    assert grey["_type"] == "image-file" and grey["caption"] == "a ramp"
    assert (grey["width"], grey["height"]) == (16, 12)
    # Named by step and content hash, under the key's folder.
    assert grey["path"] == f".gitexp/media/grey/4-{grey['sha256'][:8]}.png"
    with PIL.open(io.BytesIO(check_file(media_run, grey))) as image:
        assert np.array_equal(np.asarray(image), GREY)
    expected = np.round(RGB_FLOAT * 255).astype(np.uint8)
    with PIL.open(io.BytesIO(check_file(media_run, logged(media_run, "rgb")))) as image:
        assert image.mode == "RGB" and np.array_equal(np.asarray(image), expected)
    with PIL.open(io.BytesIO(check_file(media_run, logged(media_run, "pil")))) as image:
        assert np.array_equal(np.asarray(image), GREY)
    # A path: the file's own bytes.
    drawn = media_run["repo"] / "outputs" / "drawn.png"
    assert check_file(media_run, logged(media_run, "file")) == drawn.read_bytes()
    # Boxes beside the image, as JSON.
    side = check_file(media_run, grey["annotations"])
    boxes = json.loads(side)["boxes"]["predictions"]
    assert boxes["class_labels"] == {"1": "cat"} and boxes["box_data"][0]["class_id"] == 1
    gallery = logged(media_run, "gallery")
    assert [ref["width"] for ref in gallery] == [16, 12]
    for ref in gallery:
        check_file(media_run, ref)


@pytest.mark.slow
def test_every_media_file_of_the_tree_is_referenced(media_run: dict[str, Any]) -> None:
    listed = git(
        media_run["repo"], "ls-tree", "-r", "--name-only", f"refs/gitexp/runs/{media_run['id']}"
    ).split()
    files = {path for path in listed if path.startswith(".gitexp/media/")}
    named = set(re.findall(r'"path": "([^"]+)"', json.dumps(media_run["rows"])))
    assert named and named <= files
    assert all(validate.check_media_path(path) is None for path in files)


@pytest.mark.slow
def test_a_table_keeps_its_cells_and_its_images(media_run: dict[str, Any]) -> None:
    ref = logged(media_run, "samples")
    assert ref["_type"] == "table-file" and (ref["ncols"], ref["nrows"]) == (3, 2)
    table = json.loads(check_file(media_run, ref))
    assert table["columns"] == ["id", "picture", "score"]
    assert table["data"][1] == [2, None, 0.25]
    picture = table["data"][0][1]
    with PIL.open(io.BytesIO(check_file(media_run, picture))) as image:
        assert np.array_equal(np.asarray(image), GREY)
    frame = json.loads(check_file(media_run, logged(media_run, "frame")))
    assert frame == {"columns": ["a", "b"], "data": [[1, "x"], [2, "y"]]}


@pytest.mark.slow
def test_html_audio_and_video_files(media_run: dict[str, Any]) -> None:
    page = logged(media_run, "page")
    assert page["_type"] == "html-file"
    assert check_file(media_run, page) == b"<h1>hello</h1>"
    sound = logged(media_run, "sound")
    assert sound["_type"] == "audio-file" and sound["sample_rate"] == 8000
    assert sound["duration"] == 0.2 and sound["caption"] == "sine"
    with wave.open(io.BytesIO(check_file(media_run, sound))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert np.array_equal(samples, np.round(SOUND * 32767).astype(np.int16))
    clip = logged(media_run, "clip")
    assert (clip["_type"], clip["format"], clip["frames"]) == ("video-file", "gif", 3)
    with PIL.open(io.BytesIO(check_file(media_run, clip))) as gif:
        assert gif.n_frames == 3 and gif.size == (5, 4)


@pytest.mark.slow
def test_confusion_matrix_counts_are_numpys(media_run: dict[str, Any]) -> None:
    chart = logged(media_run, "cm")
    assert chart["_type"] == "chart" and chart["chart"] == "confusion_matrix"
    fields = chart["fields"]
    table = json.loads(check_file(media_run, chart["table"]))
    index = {name: table["columns"].index(name) for name in fields.values()}
    names = ["a", "b", "c"]
    counts = np.zeros((3, 3), dtype=int)
    for row in table["data"]:
        actual = names.index(row[index[fields["actual"]]])
        predicted = names.index(row[index[fields["predicted"]]])
        counts[actual, predicted] = row[index[fields["value"]]]
    expected = np.zeros((3, 3), dtype=int)
    np.add.at(expected, (np.array(Y_TRUE), np.array(PREDS)), 1)
    assert np.array_equal(counts, expected)


@pytest.mark.slow
def test_curves_are_stored_as_a_table_and_a_spec(media_run: dict[str, Any]) -> None:
    roc = logged(media_run, "roc")
    assert roc["fields"] == {"x": "fpr", "y": "tpr", "series": "class"}
    table = json.loads(check_file(media_run, roc["table"]))
    assert table["columns"] == ["class", "fpr", "tpr"]
    assert [row[1:] for row in table["data"]] == [[0, 0], [0, 0.5], [0.5, 0.5], [0.5, 1], [1, 1]]
    series = json.loads(check_file(media_run, logged(media_run, "series")["table"]))
    assert series["data"][:4] == [["sq", 1, 1], ["sq", 2, 4], ["sq", 3, 9], ["id", 1, 1]]


@pytest.mark.slow
def test_show_lists_media_by_key(media_run: dict[str, Any]) -> None:
    shown = media_run["show"]
    assert shown.returncode == 0, shown.stderr
    section = shown.stdout.split("\nmedia", 1)[1].split("\n\n", 1)[0]
    lines = {line.split()[0]: line.split()[1:] for line in section.splitlines()[3:]}
    assert lines["grey"] == ["image-file", "1", "4"]
    assert lines["cm"] == ["confusion_matrix", "1", "4"]  # step=4 holds until the step moves
    assert lines["gallery"] == ["image-file", "1", "4"]
    assert "sha256" not in shown.stdout  # references are not metric values
    media = {item["key"]: item for item in json.loads(media_run["show_json"].stdout)["media"]}
    assert media["sound"] == {"key": "sound", "type": "audio-file", "count": 1, "last_step": 4}
    # ls stays one line per run: media are not in the listing row.
    listed = gitexp("ls", "--json", cwd=media_run["repo"])
    (row,) = json.loads(listed.stdout)
    assert "grey" not in json.dumps(row.get("metrics", {}))


@pytest.mark.slow
def test_readers_get_media_from_the_runs_tree_and_refuse_what_escapes(
    media_run: dict[str, Any],
) -> None:
    from gitexp.errors import FormatError
    from gitexp.git.repo import GitRepo
    from gitexp.read.media import media_file, media_table

    commit = run_refs(media_run["repo"])[media_run["id"]].encode()
    grey = logged(media_run, "grey")
    with GitRepo.discover(str(media_run["repo"])) as repo:
        assert media_file(repo, commit, grey) == check_file(media_run, grey)
        table = media_table(repo, commit, logged(media_run, "cm"))  # a chart: its table
        assert table["columns"] == ["Actual", "Predicted", "nPredictions"]
        for bad, message in [
            ({**grey, "path": ".gitexp/media/../run.json"}, "not normalized"),
            ({**grey, "path": ".gitexp/run.json"}, "outside .gitexp/media/"),
            ({**grey, "path": ".gitexp/media/grey/9-00000000.png"}, "has no media file"),
            ({**grey, "sha256": "0" * 64}, "does not match"),
            ({"_type": "histogram"}, "not a media file reference"),
        ]:
            with pytest.raises(FormatError, match=message):
                media_file(repo, commit, bad)


# -- the curves against hand-computed cases (no run needed) ------------------------------


def _columns(chart: Any) -> list[list[object]]:
    return [row[1:] for row in chart.table.data]


def test_roc_and_pr_of_a_hand_computed_case() -> None:
    # Scores 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg), swept from the top.
    y_true, scores = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    roc = gx.plot.roc_curve(y_true, scores)
    assert _columns(roc) == [[0, 0], [0, 0.5], [0.5, 0.5], [0.5, 1], [1, 1]]
    pr = gx.plot.pr_curve(y_true, scores)
    assert pr.table.columns == ["class", "recall", "precision"]
    assert _columns(pr) == [[0, 1], [0.5, 1], [0.5, 0.5], [1, 2 / 3], [1, 0.5]]


def test_tied_scores_are_one_threshold_and_classes_are_one_vs_rest() -> None:
    probas = np.array([[0.7, 0.3], [0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    roc = gx.plot.roc_curve([0, 1, 1, 0], probas, labels=["no", "yes"])
    by_class: dict[str, list[list[object]]] = {}
    for name, *point in roc.table.data:
        by_class.setdefault(str(name), []).append(point)
    # class "yes": scores 0.8 (pos), 0.4 (neg), 0.3 twice (one pos, one neg: one step).
    assert by_class["yes"] == [[0, 0], [0, 0.5], [0.5, 0.5], [1, 1]]
    assert set(by_class) == {"no", "yes"}


def test_a_class_without_examples_gets_no_curve_and_a_warning() -> None:
    with pytest.warns(UserWarning, match="no curve for class 2"):
        chart = gx.plot.roc_curve([0, 1, 0, 1], np.full((4, 3), 1 / 3))
    assert {row[0] for row in chart.table.data} == {"0", "1"}


def test_a_long_curve_is_thinned_with_both_ends_kept() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 50_000)
    chart = gx.plot.roc_curve(truth, rng.random(50_000))
    points = _columns(chart)
    assert len(points) <= curves.MAX_POINTS
    assert points[0] == [0, 0] and points[-1] == [1, 1]


def test_confusion_matrix_from_probabilities_takes_the_argmax() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    chart = gx.plot.confusion_matrix(probs=probs, y_true=[0, 1, 1])
    assert [row[2] for row in chart.table.data] == [1, 0, 1, 1]


# -- bad input: a clear error at the user's line, or a warning that keeps the training --------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: gx.Image(np.zeros((2, 3, 5))), "H×W×3"),
        (lambda: gx.Image("notes.txt"), "not an image file name"),
        (lambda: gx.Audio(np.zeros(10)), "sample_rate"),
        (lambda: gx.Table(columns=["a"], data=[[1, 2]]), "2 cells for 1 columns"),
        (lambda: gx.Table(columns=["a"], data=[[object()]]), "cannot hold"),
        (lambda: gx.plot.line(gx.Table(columns=["x"]), "x", "y"), "'y' is not in the table"),
        (lambda: gx.plot.confusion_matrix(y_true=[0, 3], preds=[0, 1], class_names=["a"]), "0..0"),
        (lambda: gx.plot.roc_curve([0, 1], [[0.5, 0.5]]), "one row per example"),
        (lambda: gx.Video(np.zeros((2, 2))), "T×C×H×W"),
    ],
)
def test_bad_media_input_is_a_clear_error(make: Any, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_table_columns_can_be_added_and_read() -> None:
    table = gx.Table(columns=["a"], data=[[1], [2]])
    table.add_column("b", ["x", "y"])
    table.add_data(3, "z")
    assert table.get_column("b") == ["x", "y", "z"]
    assert table.get_column("a", convert_to="numpy").tolist() == [1, 2, 3]
    with pytest.raises(KeyError, match="no column 'c'"):
        table.get_column("c")


@pytest.mark.slow  # importing torch takes seconds
@pytest.mark.integration
def test_a_torch_image_is_channels_first() -> None:
    torch = require("torch")
    tensor = torch.arange(3 * 4 * 5, dtype=torch.float32).reshape(3, 4, 5) / 60
    image = gx.Image(tensor)
    assert image.size == (5, 4)
    data, ext = image.encoded()
    with PIL.open(io.BytesIO(data)) as decoded:
        pixels = np.asarray(decoded)
    channels_last = tensor.permute(1, 2, 0).numpy().astype(np.float64)
    expected = np.round(channels_last.clip(0, 1) * 255).astype(np.uint8)
    assert ext == "png" and np.array_equal(pixels, expected)


def test_import_gitexp_imports_no_media_library() -> None:
    code = (
        "import sys, gitexp\n"
        "heavy = [m for m in ('numpy', 'PIL', 'gitexp.media.image', 'gitexp.media.store') "
        "if m in sys.modules]\n"
        "print(heavy)\n"
        "assert gitexp.Image.__name__ == 'Image' and 'gitexp.media.image' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_pillow_an_image_is_dropped_with_a_warning_and_the_run_goes_on(
    repo: Path,
) -> None:
    (repo / "media.py").write_text(
        "import sys\nsys.modules['PIL'] = None  # as if pillow were not installed\n"
        "import numpy as np, gitexp\n"
        "gitexp.init()\n"
        "gitexp.log({'img': gitexp.Image(np.zeros((2, 2))), 'page': gitexp.Html('<p>')})\n"
        "gitexp.log({'loss': 0.1})\n"
        "gitexp.finish()\n"
    )
    done = gitexp("run", sys.executable, "media.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "could not store the Image logged as 'img'" in done.stderr
    assert "pip install 'gitexp[media]'" in done.stderr
    (run_id,) = run_refs(repo)
    logged_rows = rows(repo, run_id)
    assert "img" not in logged_rows[0] and logged_rows[0]["page"]["_type"] == "html-file"
    assert logged_rows[1]["loss"] == 0.1


def test_a_history_reference_that_escapes_quarantines_the_run(repo: Path) -> None:
    """A teammate's run whose history names a file outside its media folder is refused."""
    (repo / "media.py").write_text(
        "import gitexp\ngitexp.init()\ngitexp.log({'page': gitexp.Html('<p>')})\ngitexp.finish()\n"
    )
    assert gitexp("run", sys.executable, "media.py", cwd=repo).returncode == 0
    (run_id,) = run_refs(repo)
    ref = f"refs/gitexp/runs/{run_id}"
    good = blob(repo, run_id, ".gitexp/history/000000.jsonl")
    evil = good.replace(b'"path":".gitexp/media/', b'"path":".gitexp/media/../../')
    assert evil != good
    new_blob = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=evil, capture_output=True
        )
        .stdout.decode()
        .strip()
    )

    def replaced(tree: str, path: list[str]) -> str:
        lines = git(repo, "ls-tree", tree).splitlines()
        out = []
        for line in lines:
            head, name = line.split("\t", 1)
            mode, kind, sha = head.split()
            if name == path[0]:
                sha = new_blob if len(path) == 1 else replaced(sha, path[1:])
            out.append(f"{mode} {kind} {sha}\t{name}")
        made = subprocess.run(
            ["git", "mktree"], cwd=repo, input="\n".join(out) + "\n", capture_output=True, text=True
        )
        return made.stdout.strip()

    tree = replaced(f"{ref}^{{tree}}", [".gitexp", "history", "000000.jsonl"])
    message = git(repo, "log", "-1", "--format=%B", ref)
    commit = git(repo, "commit-tree", tree, "-p", ref, "-m", message).strip()
    git(repo, "update-ref", ref, commit)
    shown = gitexp("show", run_id, cwd=repo)
    assert shown.returncode == 7
    assert "quarantined" in shown.stderr and "not normalized" in shown.stderr


def test_a_resumed_run_keeps_the_media_of_its_earlier_life(repo: Path) -> None:
    (repo / "media.py").write_text(
        "import sys, gitexp\n"
        "gitexp.init(id='media-1', resume='allow')\n"
        "gitexp.log({'page': gitexp.Html(sys.argv[1])})\n"
        "gitexp.finish()\n"
    )
    for text in ("<p>first</p>", "<p>second</p>"):
        done = subprocess.run(
            [sys.executable, "media.py", text], cwd=repo, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    listed = git(repo, "ls-tree", "-r", "--name-only", "refs/gitexp/runs/media-1").split()
    pages = sorted(path for path in listed if path.startswith(".gitexp/media/page/"))
    assert [path.rsplit("/", 1)[1].split("-")[0] for path in pages] == ["0", "1"]
    assert [blob(repo, "media-1", path) for path in pages] == [b"<p>first</p>", b"<p>second</p>"]


def test_compare_leaves_media_out_of_its_metric_rows(repo: Path) -> None:
    (repo / "media.py").write_text(
        "import sys, gitexp\n"
        "gitexp.init()\n"
        "gitexp.log({'loss': float(sys.argv[1]), 'page': gitexp.Html(sys.argv[1])})\n"
        "gitexp.finish()\n"
    )
    for loss in ("0.5", "0.25"):
        done = subprocess.run(
            [sys.executable, "media.py", loss], cwd=repo, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    compared = gitexp("compare", "latest", "latest~1", "--all", cwd=repo)
    assert compared.returncode == 0, compared.stderr
    assert "loss" in compared.stdout
    assert "page" not in compared.stdout and "html-file" not in compared.stdout


def test_files_given_by_path_are_kept_as_they_are(tmp_path: Path) -> None:
    from gitexp.media.store import MediaSink

    sink = MediaSink(str(tmp_path / "live"))
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    (tmp_path / "sound.ogg").write_bytes(b"OggS fake")
    (tmp_path / "page.html").write_text("<p>from a file</p>")
    video = gx.Video(str(tmp_path / "clip.mp4"), caption="ep 3").store(sink, "val/clip", 7)
    audio = gx.Audio(tmp_path / "sound.ogg").store(sink, "sound", 7)
    html = gx.Html(str(tmp_path / "page.html")).store(sink, "a b/../c", 7)
    assert video["path"] == f".gitexp/media/val/clip/7-{video['sha256'][:8]}.mp4"
    assert (video["format"], video["caption"]) == ("mp4", "ep 3") and "frames" not in video
    assert audio["format"] == "ogg" and "sample_rate" not in audio
    # A key's odd characters and dot-parts never make a path leave the key's folder.
    assert html["path"].startswith(".gitexp/media/a_b/_../c/7-")
    for ref, source in ((video, "clip.mp4"), (audio, "sound.ogg"), (html, "page.html")):
        assert validate.check_media_ref(ref) is None
        stored = tmp_path / "live" / "media" / ref["path"].removeprefix(".gitexp/media/")
        assert stored.read_bytes() == (tmp_path / source).read_bytes()


LARGE = """\
import gitexp
gitexp.init()
gitexp.log({"big": gitexp.Html("<p>" + "x" * 5000 + "</p>"), "small": gitexp.Html("<p>")})
gitexp.finish()
"""


def _large_run(repo: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    (repo / "large.py").write_text(LARGE)
    done = gitexp("run", sys.executable, "large.py", cwd=repo, env={"GITEXP_MAX_FILE_SIZE": "1k"})
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    (row,) = rows(repo, run_id)
    return run_id, row["big"], row["small"]


def test_without_dvc_a_large_media_file_is_committed_into_git(repo: Path) -> None:
    run_id, big, small = _large_run(repo)
    assert len(blob(repo, run_id, big["path"])) == big["size"] > 1024
    assert blob(repo, run_id, small["path"]) == b"<p>"


@pytest.mark.slow  # DVC's import and its cache
def test_a_large_media_file_goes_to_dvcs_cache(repo: Path, tmp_path: Path) -> None:
    from sharing_servers import dvc_setup

    from gitexp.git.repo import GitRepo
    from gitexp.read.media import media_file

    dvc_setup(repo, str(tmp_path / "dvcstore"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Set up DVC")
    run_id, big, small = _large_run(repo)
    listed = git(repo, "ls-tree", "-r", "--name-only", f"refs/gitexp/runs/{run_id}").split()
    assert small["path"] in listed and big["path"] not in listed
    assert ".gitexp-artifacts.dvc" not in listed  # dvc pull never writes into .gitexp/
    (kept,) = json.loads(blob(repo, run_id, ".gitexp/artifacts.json"))["artifacts"]
    assert (kept["path"], kept["kind"], kept["size"]) == (big["path"], "media", big["size"])
    md5 = kept["md5"]
    cached = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == big["sha256"]
    with GitRepo.discover(str(repo)) as opened:
        commit = run_refs(repo)[run_id].encode()
        assert media_file(opened, commit, big) == cached.read_bytes()
    # The run passes the trust gate, and a restore leaves .gitexp/ out of the work tree.
    assert gitexp("show", run_id, cwd=repo).returncode == 0
    restored = gitexp("restore", run_id, "--force", cwd=repo)
    assert restored.returncode == 0, restored.stderr
    assert not (repo / ".gitexp").exists()
    # Shared as every artifact: push uploads it, a teammate's pull brings it.
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(repo, "remote", "add", "origin", str(tmp_path / "origin.git"))
    git(repo, "push", "-q", "origin", "HEAD:main")
    assert gitexp("push", cwd=repo).returncode == 0
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    pulled = gitexp("pull", cwd=other)
    assert pulled.returncode == 0, pulled.stderr
    with GitRepo.discover(str(other)) as opened:
        assert media_file(opened, commit, big) == cached.read_bytes()
