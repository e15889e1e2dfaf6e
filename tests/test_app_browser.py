"""The app in a real browser (Playwright + headless Debian Chromium): log in, upload, draw, train live, stop.

Set RESNET_ANY_SCREENSHOTS=demos/screenshots to save a screenshot of each tab there (for the README).
"""
from __future__ import annotations

import importlib.util
import os
import re
import time
from pathlib import Path

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if importlib.util.find_spec("gradio") is None:  # the app needs the demo extra; importing it here would cost seconds
    pytest.skip("gradio is not installed (pip install -e '.[demo]')", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
from PIL import Image  # noqa: E402

from _app_server import REPO, app_server  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = os.environ.get("RESNET_ANY_SCREENSHOTS")
LOCAL = ("http://127.0.0.1", "data:", "blob:", "about:")
# A "7" on the canvas, as fractions of its size: top bar, then the diagonal down to the left.
SEVEN = [(0.28, 0.22), (0.72, 0.22), (0.46, 0.82)]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)")


OUTSIDE: list[str] = []  # every request the page made to anything but this machine


def _log_in(pg, user: str, password: str) -> None:
    """Fill gradio's login form (the app runs with --auth-file) and submit it."""
    pg.get_by_label("username").fill(user)
    pg.get_by_label("password").fill(password)
    pg.get_by_role("button", name="Login").click()


@pytest.fixture(scope="module")
def page():
    """A fresh Chromium page on the running app, logged in, recording requests that leave loopback.

    A wrong password first: the login form stays, and no app component is served.
    """
    server = app_server()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1280, "height": 1000})
        pg.on("request", lambda r: None if r.url.startswith(LOCAL) else OUTSIDE.append(r.url))
        pg.set_default_timeout(60_000)
        pg.goto(server.url, wait_until="load")
        _log_in(pg, "browser", "not-the-password")
        pg.get_by_text("Incorrect Credentials").wait_for()
        assert pg.locator("#checkpoint").count() == 0
        _log_in(pg, "browser", server.users["browser"])
        pg.wait_for_selector("#checkpoint")
        yield pg
        browser.close()


def _shot(pg, name: str) -> None:
    if SCREENSHOTS:
        out = Path(SCREENSHOTS) if Path(SCREENSHOTS).is_absolute() else REPO / SCREENSHOTS
        out.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(out / name), full_page=True)


def _top_label(pg, timeout: float = 60) -> str:
    """The Label component's headline class, once it shows one."""
    head = pg.locator("#label [data-testid='label-output-value']")
    head.wait_for(timeout=timeout * 1000)
    return head.inner_text().strip()


def test_upload_shows_label(page, shared_data: Path, tmp_path: Path) -> None:
    """Uploading a real MNIST test digit shows its class on top, with the model name and inference time."""
    from resnet_any.data.images import read_idx

    raw = shared_data / "MNIST" / "raw"
    img, y = read_idx(raw / "t10k-images-idx3-ubyte.gz")[0], int(read_idx(raw / "t10k-labels-idx1-ubyte.gz")[0])
    path = tmp_path / "digit.png"
    Image.fromarray(img, "L").save(path)
    page.get_by_role("tab", name="Upload").click()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    assert _top_label(page) == str(y)
    info = page.locator("#info").inner_text()
    assert "resnet18" in info and re.search(r"inference [\d.]+ ms", info), info
    # the shipped model was trained with label smoothing 0.1: the page says why it never shows 100%
    assert "label smoothing 0.1" in info and "91%" in info, info
    # beside the top 5: where the network looked (its class activation map over what it saw)
    cam = page.locator("#cam img")
    cam.wait_for(timeout=30_000)
    assert (cam.first.get_attribute("src") or "").strip()


def test_sketch_draws_a_seven(page) -> None:
    """Strokes drawn with the mouse are composited, framed like MNIST and read as a 7."""
    before = _seen_src(page)
    page.get_by_role("tab", name="Draw").click()
    page.locator("#sketch").get_by_label("Brush").first.click()
    box = page.locator("#sketch canvas").first.bounding_box()
    (x0, y0), rest = SEVEN[0], SEVEN[1:]
    page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
    page.mouse.down()
    for x, y in rest:
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=12)
    page.mouse.up()
    deadline = time.monotonic() + 60
    # the upload's prediction stays on screen until the sketch's replaces its "what the model sees" image;
    # a prediction of the half-drawn stroke may come first
    while (_seen_src(page) == before or _top_label(page) != "7") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _seen_src(page) != before, "the drawing was not classified"
    assert _top_label(page) == "7"
    _shot(page, "classify.png")


def _seen_src(pg) -> str:
    img = pg.locator("#seen img")
    return (img.first.get_attribute("src") or "") if img.count() else ""


# every text of a plot's SVG (tick labels, axis titles) with its box and the SVG's, in page pixels
PLOT_TEXTS = """(sel) => { const svg = document.querySelector(sel + ' svg'); if (!svg) return null;
  const b = svg.getBoundingClientRect();
  return {svg: [b.left, b.top, b.right, b.bottom], texts: [...svg.querySelectorAll('text')].filter(t => t.textContent)
    .map(t => { const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.top, r.right, r.bottom]; })}; }"""


def _clipped_texts(pg, sel: str) -> list:
    """The texts of a plot that reach outside its SVG, where the browser cuts them off (a 1 px tolerance)."""
    found = pg.evaluate(PLOT_TEXTS, sel)
    assert found and found["texts"], f"{sel} shows no text"
    left, top, right, bottom = found["svg"]
    return [t for t in found["texts"] if t[1] < left - 1 or t[2] < top - 1 or t[3] > right + 1 or t[4] > bottom + 1]


def _loss_path(pg) -> str:
    """The SVG path data of the loss curve's lines (empty before any point)."""
    paths = pg.locator("#loss_plot path[aria-roledescription='line mark']")
    return "".join(paths.nth(i).get_attribute("d") or "" for i in range(paths.count()))


def test_train_curve_updates_then_stop(page) -> None:
    """Start with the defaults: the status and loss curve update live; Stop ends the run within 2 seconds."""
    page.get_by_role("tab", name="Train").click()
    page.locator("#epochs input").fill("200" if not SCREENSHOTS else "20")
    page.locator("#start").click()
    deadline = time.monotonic() + 120
    first = ""
    while time.monotonic() < deadline and not first:
        if "· step" in page.locator("#status").inner_text():
            first = _loss_path(page)
        time.sleep(0.1)
    assert first, f"no training progress: {page.locator('#status').inner_text()}"
    later = first
    while time.monotonic() < deadline and later == first:
        time.sleep(0.2)
        later = _loss_path(page)
    assert later != first, "the loss curve did not update"
    while time.monotonic() < deadline and "epoch 2/" not in page.locator("#status").inner_text():
        time.sleep(0.2)  # a finished epoch or two: the loss axis has its real range (was 1.15 shown as ".15")
    time.sleep(1)
    for plot in ("#loss_plot", "#acc_plot"):
        assert _clipped_texts(page, plot) == [], f"{plot}: labels cut off by the plot's frame"
    if SCREENSHOTS:  # a README picture wants a few epochs of both curves
        while time.monotonic() < deadline + 120 and int(
                (re.search(r"epoch (\d+)/", page.locator("#status").inner_text()) or [0, 0])[1]) < 4:
            time.sleep(0.2)
        _shot(page, "train.png")
    page.locator("#stop").click()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 15 and "stopped" not in page.locator("#status").inner_text():
        time.sleep(0.1)
    status = page.locator("#status").inner_text()
    assert "stopped" in status, status
    # the stop lands within a step; the end line also waits for the small test-split pass
    assert time.monotonic() - t0 < 5, f"took {time.monotonic() - t0:.1f}s to stop"


def test_dataset_upload_fills_the_dataset_field(page, tmp_path: Path) -> None:
    """Uploading a CSV in the Train tab puts its path in the data root into the dataset field and its domain into
    the domain field; Start trains on it."""
    page.get_by_role("tab", name="Train").click()
    table = tmp_path / "my series.csv"
    table.write_text("label,t0,t1,t2,t3\n" + "".join(f"{'ab'[i % 2]},{i},{i % 3},{i + 2},{i % 2}\n" for i in range(12)))
    page.locator("#dataset_file input[type=file]").set_input_files(str(table))
    field = page.locator("#dataset input")
    deadline = time.monotonic() + 30
    while not field.input_value().startswith("uploads/") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert re.fullmatch(r"uploads/[0-9a-f]{12}/my_series\.csv", field.input_value()), field.input_value()
    assert field.input_value() in page.locator("#upload_status").inner_text()
    # the domain is read from the file (its presets follow), the path stays, and it trains
    deadline = time.monotonic() + 30
    while page.locator("#epochs input").input_value() != "40" and time.monotonic() < deadline:
        time.sleep(0.1)  # the series preset has arrived
    assert page.locator("#domain input").input_value() == "series"
    assert field.input_value().endswith("/my_series.csv")
    page.locator("#epochs input").fill("1")
    page.locator("#start").click()
    deadline = time.monotonic() + 60
    while "finished" not in page.locator("#status").inner_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "finished after 1 epoch" in page.locator("#status").inner_text(), page.locator("#status").inner_text()
    deadline = time.monotonic() + 15  # the result panel renders just after the status line on a busy machine
    while "my_series" not in page.locator("#result").inner_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "my_series" in page.locator("#result").inner_text()
    # the run's test series 0, explained: its class activation map along time
    page.locator("#explain").click()
    page.locator("#explained img").wait_for(timeout=60_000)
    info = page.locator("#explained_info").inner_text()
    assert info.startswith("test series 0") and "predicted" in info and "cam" in info, info


def test_an_uploaded_regression_table_trains_and_reports_its_rmse(page, tmp_path: Path) -> None:
    """A CSV whose labels are numbers (GunPoint's series, each labelled with its peak height) trains as a
    regression: the run says the inferred task, plots RMSE, and ends with the test RMSE, not an accuracy."""
    from resnet_any.data import load_dataset

    s = load_dataset("series")
    x = torch.cat([s.train.x, s.val.x])[:, 0, ::5]  # 30 steps of each series, as a user's short sensor rows
    rows = [f"{float(r.max()):.4f}," + ",".join(f"{v:.4f}" for v in r.tolist()) for r in x]
    table = tmp_path / "peaks.csv"
    table.write_text("label," + ",".join(f"t{i}" for i in range(x.shape[1])) + "\n" + "\n".join(rows) + "\n")
    page.get_by_role("tab", name="Train").click()
    page.locator("#dataset_file input[type=file]").set_input_files(str(table))
    deadline = time.monotonic() + 30
    while not page.locator("#dataset input").input_value().endswith("/peaks.csv") and time.monotonic() < deadline:
        time.sleep(0.1)
    deadline = time.monotonic() + 30
    while page.locator("#epochs input").input_value() != "40" and time.monotonic() < deadline:
        time.sleep(0.1)  # the series preset has arrived
    page.locator("#epochs input").fill("3")
    page.locator("#start").click()
    deadline = time.monotonic() + 120
    while "finished" not in page.locator("#status").inner_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    status = page.locator("#status").inner_text()
    assert "finished after 3 epoch" in status and "test RMSE" in status, status
    assert "accuracy" not in status.lower(), status
    page.locator("#acc_plot").get_by_text("RMSE (lower is better)").first.wait_for(timeout=15_000)
    assert page.locator("#acc_plot").get_by_text("accuracy", exact=True).count() == 0  # the axis names RMSE
    _shot(page, "train_regression.png")


def test_a_failed_run_says_so_once(page) -> None:
    """A run that fails shows its whole message once, in the status line: no pop-up repeating it, no red badges."""
    page.get_by_role("tab", name="Train").click()
    page.locator("#domain input").fill("image")
    page.keyboard.press("Enter")
    deadline = time.monotonic() + 30
    while page.locator("#epochs input").input_value() != "5" and time.monotonic() < deadline:
        time.sleep(0.1)  # the image preset has arrived (and would overwrite a dataset typed before it)
    page.locator("#dataset input").fill("folder")
    page.keyboard.press("Enter")
    assert page.locator("#dataset input").input_value() == "folder"
    page.locator("#start").click()
    deadline = time.monotonic() + 60
    while "error:" not in page.locator("#status").inner_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    status = page.locator("#status").inner_text()
    # the hint's "<class>" was taken for an HTML tag, which cut the message there
    assert "ROOT/train/<class>/*.jpg with ROOT/val/" in status and status.startswith("error:"), status
    time.sleep(1)
    assert page.locator(".toast-body").count() == 0, "a pop-up repeats the status line"
    assert page.get_by_text("Error", exact=True).count() == 0, "red error badges on the outputs"


def test_page_stays_on_this_machine(page) -> None:
    """Nothing the page loaded (fonts, scripts, telemetry) came from outside loopback."""
    assert OUTSIDE == [], f"the page reached outside this machine: {OUTSIDE[:5]}"
