"""The app as a public demo (issue 13): data root confinement, what errors may say, uploads, login, rate limits.

Through gradio_client against `python demos/app.py` (tests/_app_server.py: login on, data root `data/`,
and `outside/` beside it in the server's working directory), logged in as "guard". The in-process tests at
the end check the message policy, the rate limiter and the launcher's flags without a server.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import types
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
gradio_client = pytest.importorskip("gradio_client")
if importlib.util.find_spec("gradio") is None:
    pytest.skip("gradio is not installed (pip install -e '.[demo]')", allow_module_level=True)
from gradio_client import Client, handle_file  # noqa: E402
from PIL import Image  # noqa: E402

from _app_server import CLASSIFY_RATE, MAX_UPLOAD_MB, REPO, TRAIN_RATE, app_server  # noqa: E402

OUT_MARK = "OUTSIDE_SECRET_5d1c"   # in every file outside the data root: cells, labels, names
IN_MARK = "INSIDE_CELL_9b2e"       # in a bad cell of a file inside the data root
REFUSED = "must be a path inside the data root"


def _wide_csv(path: Path, labels: tuple[str, str] = ("rise", "fall"), n: int = 12, length: int = 16,
              bad: tuple[int, int, str] | None = None) -> Path:
    """A wide series table: label, t0..t{length-1}; `bad` = (data row, column index, text) puts text in one cell."""
    rng = np.random.default_rng(0)
    lines = ["label," + ",".join(f"t{j}" for j in range(length))]
    for i in range(n):
        lab = labels[i % 2]
        vals = [f"{(j if i % 2 == 0 else length - j) + rng.random():.3f}" for j in range(length)]
        if bad is not None and bad[0] == i:
            vals[bad[1]] = bad[2]
        lines.append(",".join([lab] + vals))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def app():
    """The running app, with files outside its data root (holding OUT_MARK) and bad files inside it."""
    server = app_server()
    out, data = server.outside, server.data_root
    _wide_csv(out / "table.csv", labels=(OUT_MARK + "_a", OUT_MARK + "_b"), bad=(1, 2, OUT_MARK))
    (out / "Secret_TRAIN.tsv").write_text(f"{OUT_MARK}\t1\t2\nx\t1\t{OUT_MARK}\n")
    (out / "Secret_TEST.tsv").write_text(f"{OUT_MARK}\t1\t2\n")
    Image.new("L", (8, 8)).save(out / f"{OUT_MARK}.png")
    guard = data / "guard"
    guard.mkdir(parents=True, exist_ok=True)
    for link, target in (("link_out.csv", out / "table.csv"), ("link_dir", out)):
        if not (guard / link).is_symlink():
            os.symlink(target, guard / link)
    folder = guard / "folder_with_link"
    _wide_csv(folder / "test.csv")
    if not (folder / "train.csv").is_symlink():
        os.symlink(out / "table.csv", folder / "train.csv")
    (guard / "manifest.csv").write_text(f"file,label\n../../outside/{OUT_MARK}.png,a\n{out / OUT_MARK}.png,b\n")
    _wide_csv(guard / "bad.csv", bad=(2, 3, IN_MARK))  # data row 2 = spreadsheet row 4, column t3
    (guard / "ucr").mkdir(exist_ok=True)
    (guard / "ucr" / "Y_TRAIN.tsv").write_text(f"1\t0.5\t0.7\n2\t0.1\tabc_{IN_MARK}\n")
    (guard / "ucr" / "Y_TEST.tsv").write_text("1\t0.5\t0.7\n2\t0.1\t0.3\n")
    return server


@pytest.fixture(scope="module")
def client(app) -> Client:
    return app.client("guard")


def _refusal(client: Client, **kw) -> str:
    """The error message of a /train call that must fail."""
    with pytest.raises(Exception) as err:
        client.predict(epochs=1, api_name="/train", **kw)
    return str(err.value)


def _clean(app, text: str) -> None:
    """One line, naming no server path and nothing of the files outside the data root."""
    assert "\n" not in text.strip(), text
    assert OUT_MARK not in text and str(app.root) not in text and str(REPO) not in text, text


def test_paths_out_of_the_data_root_are_refused_alike(app, client: Client) -> None:
    """`..`, absolute paths (existing or not), links out of the root (a file, a folder, a file inside a folder),
    NUL bytes and over-long names are refused with one line that repeats nothing of the path; so are data dirs."""
    out = app.outside
    datasets = ["../outside/table.csv", "../outside/nonexistent.csv", str(out / "table.csv"), str(out / "nope.csv"),
                "guard/link_out.csv", "guard/link_dir/table.csv", "guard/folder_with_link", "guard/x\x00.csv",
                "a" * 300 + ".csv", "guard/../../outside/table.csv"]
    answers = {_refusal(client, domain="series", dataset=d) for d in datasets}
    assert len(answers) == 1, answers  # the same line whether the target exists or not
    (answer,) = answers
    assert REFUSED in answer and "outside" not in answer and "table" not in answer, answer
    _clean(app, answer)
    dirs = [("series", "ucr", "../outside"), ("series", "Secret", str(out)), ("series", "ucr", "guard/link_dir"),
            ("image", "folder", "/etc"), ("image", "mnist", "guard/link_dir")]
    answers = {_refusal(client, domain=dom, dataset=d, data_dir=dd) for dom, d, dd in dirs}
    assert len(answers) == 1 and REFUSED in next(iter(answers)), answers
    _clean(app, next(iter(answers)))
    # a bare word naming a folder in the server's working directory (outside the root) is never read
    answer = _refusal(client, domain="series", dataset="outside")
    assert answer.startswith("unknown series dataset 'outside'") and "GunPoint" in answer, answer
    _clean(app, answer)
    # nothing was trained on any of it: no run records a path outside the root or the marker
    assert not any(OUT_MARK in f.read_text() or str(out) in f.read_text() for f in app.runs_dir.glob("*/*.json"))


def test_no_oracle_for_the_working_directory_and_no_reading_every_upload(app) -> None:
    """A bare word is answered alike whether the server's working directory holds it or not; the root itself and
    the uploads folder (every user's uploads, their class names and folder tokens) are refused like a way out."""
    client = app.client("whole")  # its own user: its own rate allowance
    answer = _refusal(client, domain="series", dataset="outside")  # a folder in the server's working directory
    assert _refusal(client, domain="series", dataset="nothing_by_this_name") == answer.replace(
        "'outside'", "'nothing_by_this_name'")
    (app.data_root / "uploads").mkdir(exist_ok=True)
    for whole in (".", "uploads", "guard/..", "./uploads/"):
        assert REFUSED in _refusal(client, domain="image", dataset=whole), whole


def test_manifest_naming_images_outside_the_root_is_refused(app, client: Client) -> None:
    """An image manifest inside the root that lists images outside it is refused before any image is read."""
    answer = _refusal(client, domain="image", dataset="guard/manifest.csv")
    assert "names an image outside the data root" in answer, answer
    _clean(app, answer)


def test_bad_cells_inside_the_root_name_row_and_column_not_the_value(app, client: Client) -> None:
    """A bad cell of a file in the root is reported by file (relative to the root), row and column; the cell's
    text is not echoed, nor any server path (the CLI, for the file's owner, still quotes it)."""
    answer = _refusal(client, domain="series", dataset="guard/bad.csv", model="series_resnet")
    assert "'guard/bad.csv' row 4" in answer and "column 't3'" in answer and "not a number" in answer, answer
    assert IN_MARK not in answer, answer
    _clean(app, answer)
    answer = _refusal(client, domain="series", dataset="ucr", data_dir="guard/ucr", model="series_resnet")
    assert "'guard/ucr/Y_TRAIN.tsv' line 2" in answer and "not a number" in answer, answer
    assert IN_MARK not in answer, answer
    _clean(app, answer)

    from resnet_any.data import load_dataset
    from resnet_any.errors import DataError

    with pytest.raises(DataError, match=IN_MARK):  # the CLI's text keeps the value for the file's owner
        load_dataset("series", str(app.data_root / "guard" / "bad.csv"))


def test_uploaded_csv_trains(app, client: Client, tmp_path: Path) -> None:
    """A CSV uploaded through the API lands in a fresh folder of the data root, its domain read from its layout;
    its path then trains, and the confusion matrix shows up."""
    domain, rel, status = client.predict(handle_file(str(_wide_csv(tmp_path / "my table.csv", n=16))),
                                         api_name="/upload_dataset")
    assert domain == "series" and rel.startswith("uploads/") and rel.endswith("/my_table.csv") and rel in status, \
        (domain, rel, status)
    assert (app.data_root / rel).is_file()
    outs = list(client.submit(domain="series", dataset=rel, model="series_resnet", width=8, epochs=1,
                              batch_size=8, lr=0.001, optimizer="adam", api_name="/train"))
    status, _, _, result, confusion, _ = outs[-1]
    assert status.startswith("finished after 1 epoch"), status
    assert "my_table" in result and confusion.get("visible") is True, (result, confusion)
    _clean(app, status)
    _clean(app, result.replace("\n", " "))


def test_compressed_uploads_that_would_inflate_past_the_limit_are_refused(app, client: Client,
                                                                           tmp_path: Path) -> None:
    """A small npz of zeros declaring hundreds of MB is refused at upload: readers would inflate it in memory."""
    bomb = tmp_path / "zeros.npz"
    np.savez_compressed(bomb, x=np.zeros((3000, 1, 100, 100), np.float32), y=np.zeros(3000, np.int64))
    assert bomb.stat().st_size < 2**20  # well under the upload limit as sent
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(bomb)), api_name="/upload_dataset")
    assert "inflates to more than" in str(err.value), str(err.value)
    assert not any(app.data_root.glob("uploads/*/zeros.npz"))  # nothing left behind


def _zip(path: Path, members: dict[str, bytes], link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = 0o120777 << 16
            z.writestr(info, "/etc/passwd")
    return path


def test_zip_uploads_are_extracted_safely(app, client: Client, tmp_path: Path) -> None:
    """A zip of a folder lands as that folder; `..`, absolute names, links, nested archives, too much data and
    other file types are refused with one line, and a refused upload leaves nothing behind."""
    train = _wide_csv(tmp_path / "t" / "train.csv").read_bytes()
    good = _zip(tmp_path / "good.zip", {"mydata/train.csv": train, "mydata/test.csv": train,
                                        "__MACOSX/mydata/._train.csv": b"junk"})
    domain, rel, _ = client.predict(handle_file(str(good)), api_name="/upload_dataset")
    assert domain == "series", domain
    assert rel.startswith("uploads/") and rel.endswith("/mydata"), rel
    assert sorted(p.name for p in (app.data_root / rel).iterdir()) == ["test.csv", "train.csv"]
    uploads = app.data_root / "uploads"
    before = sorted(uploads.iterdir())
    bad = {
        "dotdot.zip": ({"../evil.csv": b"a"}, None, "'..'"),
        "absolute.zip": ({"/tmp/evil_abs.csv": b"a"}, None, "absolute path"),
        "link.zip": ({"ok.csv": b"a"}, "passwd.csv", "symbolic link"),
        "nested.zip": ({"inner.tar.gz": b"x"}, None, "another archive"),
        "bomb.zip": ({"big.csv": b"0" * (MAX_UPLOAD_MB * 2**20 + 1)}, None, f"the limit is {MAX_UPLOAD_MB} MB"),
    }
    for name, (members, link, expected) in bad.items():
        with pytest.raises(Exception) as err:
            client.predict(handle_file(str(_zip(tmp_path / name, members, link))), api_name="/upload_dataset")
        assert expected in str(err.value), (name, str(err.value))
        _clean(app, str(err.value))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(tmp_path / "notes.txt")), api_name="/upload_dataset")
    assert "one of" in str(err.value) and ".zip" in str(err.value), str(err.value)  # gradio checks the type first
    assert sorted(uploads.iterdir()) == before  # nothing left by refused uploads
    assert not list(app.root.rglob("evil*.csv")) and not Path("/tmp/evil_abs.csv").exists()


def _status(url: str, data: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_login_is_required_for_every_route(app, tmp_path: Path) -> None:
    """Without a login the page config, API info, uploads, the queue and /classify answer 401; a wrong password
    is refused; a user from --auth (not the file) is served."""
    for route, data in (("/config", None), ("/gradio_api/info", None), ("/gradio_api/upload", b"x"),
                        ("/gradio_api/queue/join", b"{}"), ("/gradio_api/call/classify", b"{}")):
        assert _status(app.url + route, data) == 401, route
    with pytest.raises(Exception):
        Client(app.url, verbose=False, analytics_enabled=False)
    with pytest.raises(Exception):
        Client(app.url, auth=("guard", "wrong"), verbose=False, analytics_enabled=False)
    Image.new("L", (28, 28)).save(tmp_path / "blank.png")
    out = app.client("cli").predict(handle_file(str(tmp_path / "blank.png")), api_name="/classify")
    assert len(out["confidences"]) == 5


def test_rate_limits_answer_at_once_with_a_message(app, tmp_path: Path) -> None:
    """Past its allowance a user's /train and /classify calls are refused with a message saying when to retry,
    not left waiting; other users are not affected."""
    client = app.client("flood")
    # refused fast by the app itself (not by gradio's input checks, which come before any handler)
    jobs = [client.submit(domain="series", dataset="nope.csv", epochs=1, api_name="/train")
            for _ in range(TRAIN_RATE + 1)]
    messages = []
    for job in jobs:
        with pytest.raises(Exception) as err:
            job.result(timeout=60)
        messages.append(str(err.value))
    limited = [m for m in messages if "too many training requests" in m]
    assert len(limited) == 1 and "try again in" in limited[0] and f"allows {TRAIN_RATE} a minute" in limited[0], \
        messages
    assert sum("'nope.csv' is not in the data root" in m for m in messages) == TRAIN_RATE, messages

    Image.new("L", (28, 28)).save(tmp_path / "blank.png")
    jobs = [client.submit(handle_file(str(tmp_path / "blank.png")), api_name="/classify")
            for _ in range(CLASSIFY_RATE + 1)]
    refused = []
    for job in jobs:
        try:
            job.result(timeout=60)
        except Exception as e:  # noqa: BLE001 - the refusal is what is counted
            refused.append(str(e))
    assert len(refused) == 1 and "too many classify requests" in refused[0], refused
    assert app.client("guard").predict(handle_file(str(tmp_path / "blank.png")), api_name="/classify")["label"]


# ---- in-process: the message policy, the limiter, the launcher ------------------------------------------------


def _raised(call: Callable[[], object]) -> BaseException:
    """The exception `call` raises (it must raise one)."""
    try:
        call()
    except Exception as e:  # noqa: BLE001 - whatever it raises is what the app is given
        return e
    raise AssertionError("no error")


def test_public_message_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DataErrors are rendered relative to the root without their value; UserErrors are shown as their raise
    site allows (reworded where they name server places or file content); anything else is a generic line."""
    from resnet_any.app.messages import GENERIC, PublicError, public_message
    from resnet_any.data import images, storage
    from resnet_any.data.images import named
    from resnet_any.errors import DataError, UserError
    from resnet_any.train.plan.inputs import check_classes

    root = tmp_path / "data"
    e = DataError(f"'{root}/a/b.csv' row 3 (...), column 'x': 'SECRET' is not a number", path=root / "a" / "b.csv",
                  row=3, column="x", value="SECRET", expected="the cell is not a number", counting="header is row 1")
    assert public_message(e, root) == "'a/b.csv' row 3 (header is row 1), column 'x': the cell is not a number"
    outside = DataError("x", path=tmp_path / "elsewhere.csv", value="SECRET", expected="is empty")
    assert public_message(outside, root) == "a file of the dataset: is empty"
    assert public_message(_raised(lambda: images.load("zz")), root).startswith("unknown")
    assert public_message(UserError(f"cannot read {root}/x.csv: SECRET"), root) == GENERIC
    one = types.SimpleNamespace(name="a", num_classes=1, class_names=["SECRET"], task="classify")
    assert public_message(_raised(lambda: check_classes(one)),
                          root) == "the dataset has only one class; a classifier needs at least two"
    monkeypatch.setattr(storage, "online", lambda *a, **k: False)
    monkeypatch.setattr(named, "_find_mnist", lambda folder: None)
    monkeypatch.setattr(named, "cache_root", lambda *a: Path("/home/x/.cache"))
    offline = _raised(named.load_mnist)
    assert "/home/x/.cache" in str(offline)
    assert public_message(offline, root).startswith("mnist is not on this server")
    assert public_message(PublicError(f"leaks {root}"), root) == GENERIC
    assert public_message(KeyError("SECRET"), root) == f"{GENERIC} (KeyError)"


def test_public_field_decides_not_the_wording(tmp_path: Path) -> None:
    """What a UserError's raise site sets in `public` decides what the app shows: the same words without it are
    a generic line; the command line's text (str) is the full message either way; a path is never shown."""
    from resnet_any.app.messages import GENERIC, public_message
    from resnet_any.errors import UserError

    root = tmp_path / "data"
    text = "unknown image dataset 'zz'; valid: digits, mnist"
    assert public_message(UserError(text, public=True), root) == text
    assert public_message(UserError(text), root) == GENERIC  # the wording alone allows nothing
    assert public_message(UserError(text, public=False), root) == GENERIC
    full = UserError(f"dataset 'x' in {root} has one class (SECRET)", public="the dataset has one class")
    assert str(full) == f"dataset 'x' in {root} has one class (SECRET)"
    assert public_message(full, root) == "the dataset has one class"
    assert public_message(UserError(f"unknown dataset {str(root)!r}", public=True), root) == GENERIC
    assert public_message(UserError("x", public=f"no data in {root}"), root) == GENERIC
    assert public_message(UserError("x", public=""), root) == GENERIC


def test_rate_limiter_window() -> None:
    """A sliding 60 s window per client: the call past the allowance is refused, and allowed again later."""
    from resnet_any.app.limits import RateLimiter, client_id
    from resnet_any.errors import UserError

    now = [0.0]
    limiter = RateLimiter(2, "classify", clock=lambda: now[0])
    limiter.check("a"), limiter.check("a"), limiter.check("b")
    with pytest.raises(UserError, match="try again in 60 s"):
        limiter.check("a")
    now[0] = 60.0
    limiter.check("a")
    assert client_id(types.SimpleNamespace(username="u", client=None)) == "user:u"
    assert client_id(types.SimpleNamespace(username=None, client=types.SimpleNamespace(host="1.2.3.4"))) \
        == "host:1.2.3.4"


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """demos/app.py's main() with the app module stubbed: returns (main, what launch() received)."""
    spec = importlib.util.spec_from_file_location("resnet_any_demo_app", REPO / "demos" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "_log_to_stderr", lambda: None)  # no handler left on this process's loggers
    launched: dict = {}
    ui = types.ModuleType("resnet_any.app.layout")
    ui.build_app = lambda runs, **kw: launched.update(build=kw) or object()
    ui.default_data_root = lambda runs: tmp_path / "data"
    ui.launch = lambda demo, **kw: launched.update(kw)
    monkeypatch.setitem(sys.modules, "resnet_any.app.layout", ui)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "tmp"))
    return module.main, launched


def test_launcher_warns_without_login_on_a_network(launcher, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """On a non-loopback host without a login one warning line is printed; --auth and --auth-file become
    gradio's auth; a bad auth file is one error line naming its line, never the password."""
    main, launched = launcher
    runs = ["--runs-dir", str(tmp_path / "runs")]
    assert main(["--host", "0.0.0.0", *runs]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: serving on 0.0.0.0 without a login"), err
    assert launched["auth"] == [] and launched["build"]["max_epochs"] == 200
    users = tmp_path / "users.txt"
    users.write_text("# users\nann:p:1\n\nbob:p2\n")
    assert main(["--host", "0.0.0.0", "--auth", "cy:p3", "--auth-file", str(users), "--max-epochs", "7", *runs]) == 0
    assert capsys.readouterr().err == ""
    assert launched["auth"] == [("cy", "p3"), ("ann", "p:1"), ("bob", "p2")] and launched["build"]["max_epochs"] == 7
    assert main(["--host", "127.0.0.1", *runs]) == 0 and capsys.readouterr().err == ""
    users.write_text("ann:p1\nbob-without-password-SECRETPW\n")
    assert main(["--auth-file", str(users), *runs]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "SECRETPW" not in err and len(err.strip().splitlines()) == 1, err
