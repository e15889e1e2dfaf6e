"""The Gradio Blocks app: a Classify tab and a Train tab over the toolkit's Predictor and Trainer.

What the app may read, say and spend, for users who may be strangers (README, "The Gradio app"):
- the Train tab reads only the data root (dataroot.py) and the embedded dataset names; uploads land there
  (uploads.py);
- every error a user sees passes `messages.public_message`, the one place that decides what it may say;
- one training job at a time, epochs capped, per-client rate limits on /classify, /train and uploads
  (limits.py); the login, when there is one, is gradio's own (`launch(auth=...)`) and covers every route.
"""
from __future__ import annotations

import asyncio
import html
import io
import logging
import math
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

# Before gradio is imported: it reads this at import time, and nothing may reach the network.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from resnet_any.app.dataroot import DataRoot, resolve_dataset  # noqa: E402
from resnet_any.app.inference import (MAX_PIXELS, MAX_UPLOAD_BYTES, SHIPPED, PredictorCache,  # noqa: E402
                                      describe, list_checkpoints, looked_at, model_input, open_upload,
                                      resolve_checkpoint, sketch_to_image, top_k)
from resnet_any.app.jobs import PRESETS, JobRegistry, Progress, TrainJob, new_run_dir  # noqa: E402
from resnet_any.app.limits import RateLimiter, client_id  # noqa: E402
from resnet_any.app.messages import PublicError, public_message  # noqa: E402
from resnet_any.app.uploads import UPLOAD_SUFFIXES, save_upload  # noqa: E402
from resnet_any.errors import UserError  # noqa: E402

log = logging.getLogger(__name__)
DOMAINS = ("image", "series", "graph")
MAX_UPLOAD = "10mb"  # images; a larger --max-upload-mb raises gradio's cap for dataset uploads
DEFAULT_MAX_UPLOAD_MB = 10
# Sizes a job may ask for: far above any recipe, far below what would exhaust the server's memory.
MAX_WIDTH = 1024
MAX_BATCH = 4096
CLASSIFY_FALLBACK = "cannot classify with this model; the details are in the server's log"
EXPLAIN_FALLBACK = "cannot explain this sample; the details are in the server's log"
LAST_RUNS = 256  # sessions whose last run is remembered for Explain
UPLOAD_FALLBACK = "cannot save this upload; the details are in the server's log"
QUEUE_MAX = 256  # requests waiting in gradio's queue, all endpoints together
# Classify is cheap (one small forward pass): several at once keep latency flat under load while a job trains.
CLASSIFY_CONCURRENCY = 4
STREAM_MIN_S = 0.5  # at most two UI updates a second: the trainer emits ten
HEARTBEAT_S = 1.0  # at least one a second, so the elapsed time moves even during validation
POLL_S = 0.1
# System fonts only: the default theme would ask the browser for web fonts.
THEME = gr.themes.Default(font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])
LOSS_COLUMNS = ["epoch", "loss", "curve"]
ACC_COLUMNS = ["epoch", "accuracy", "curve"]
LOSS_CURVES = ("train (running)", "train", "val")
ACC_CURVES = ("train", "val")
CURVE_COLORS = {"train (running)": "#93c5fd", "train": "#1d4ed8", "val": "#ea580c"}


def _checked_upload(component: gr.Image) -> gr.Image:
    """Make a file PIL cannot even identify reach the user as a gr.Error, never as a hidden server exception."""
    # patched on the instance: a gr.Image subclass would make gradio write a .pyi stub next to this module
    preprocess = component.preprocess

    def checked(payload: Any) -> Any:
        try:
            return preprocess(payload)
        except gr.Error:
            raise
        except Exception:  # noqa: BLE001 - PIL raises many types for bad files; the message is what matters
            raise gr.Error("the file is not an image this app can read; upload a PNG, JPEG, GIF, BMP, TIFF or "
                           "WebP image", print_exception=False) from None

    component.preprocess = checked  # type: ignore[method-assign]
    return component


def _public(e: BaseException, root: DataRoot | None, fallback: str | None = None) -> gr.Error:
    """An exception as the gr.Error a remote user sees: messages.public_message decides its text."""
    if isinstance(e, gr.Error):  # raised by this module with a public text already
        return e
    if isinstance(e, UserError):  # the full text, values and paths included, is for the operator only
        log.info("refused: %s", " ".join(str(e).split()))
    else:
        log.error("request failed", exc_info=e)
    text = public_message(e, None if root is None else root.path, *(() if fallback is None else (fallback,)))
    return gr.Error(text, print_exception=False)


def _error_status(text: str) -> str:
    """The status line of a failed run: the one place the error shows (Markdown: a `<class>` in a hint stays text)."""
    return "error: " + html.escape(text).replace("*", "\\*")


def _nice_top(values: Any) -> float:
    """A round upper bound of the values (1, 1.2, 1.5, 2, ... 10 times a power of ten; 1 for none)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v)) and float(v) > 0]
    if not finite:
        return 1.0
    top = max(finite)
    step = 10 ** math.floor(math.log10(top))
    return next(m * step for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * step >= top)


def _int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int | None:
    """An integer input (API clients may send 5.0), None when empty; an PublicError otherwise."""
    if value is None or value == "":
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or float(value) != int(value)):
        raise PublicError(f"{name} must be a whole number, got {str(value)[:40]!r}")
    if int(value) < minimum:
        raise PublicError(f"{name} must be >= {minimum}, got {int(value)}")
    if maximum is not None and int(value) > maximum:
        raise PublicError(f"{name} must be <= {maximum} on this server, got {int(value)}")
    return int(value)


def _names_only(dataset: str) -> None:
    """Without a data root nothing is read by path: refuse anything that is not a plain name."""
    if dataset and ("/" in dataset or "\\" in dataset or "." in dataset or "~" in dataset
                    or any(ord(c) < 32 for c in dataset)):
        raise PublicError("this app trains on dataset names only (it has no data root); a path to files is not "
                       "accepted here")


def make_config(runs_dir: Path, domain: str, dataset: str, data_dir: str | None, model: str, width: Any,
                epochs: Any, batch_size: Any, lr: Any, optimizer: str, amp: str, *, root: DataRoot | None = None,
                max_epochs: int | None = None) -> Any:
    """The Train tab's inputs as a TrainConfig writing into a new run dir under runs_dir; an PublicError (or a
    DataError of an image manifest) when they are not acceptable.

    Paths (dataset, data dir) are relative to `root` and must stay inside it (dataroot.resolve_dataset);
    without a root only dataset names are accepted. Options are validated here, before a job is queued.
    """
    from resnet_any.data import list_datasets
    from resnet_any.train import TrainConfig
    from resnet_any.train.options import validate
    from resnet_any.train.plan import check_model_domain

    if not isinstance(domain, str) or domain not in DOMAINS:
        raise PublicError(f"unknown domain {str(domain)[:40]!r}; valid: {', '.join(DOMAINS)}")
    for name, text in (("dataset", dataset), ("data dir", data_dir), ("model", model), ("optimizer", optimizer),
                       ("AMP", amp)):
        if text is not None and not isinstance(text, str):
            raise PublicError(f"{name} must be text")
    if root is None:
        _names_only((dataset or "").strip())
        if (data_dir or "").strip():
            raise PublicError("this app has no data root, so it takes no data dir")
        dataset, data_dir = (dataset or "").strip() or None, None
    else:
        dataset, data_dir = resolve_dataset(root, domain, dataset, data_dir, list_datasets(domain))
    w = _int("width", width, 0, MAX_WIDTH)
    n_epochs = _int("epochs", epochs, 1, max_epochs)
    if n_epochs is None and max_epochs is not None:
        n_epochs = min(PRESETS[domain]["epochs"], max_epochs)
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))):
        raise PublicError(f"learning rate must be a number, got {str(lr)[:40]!r}")
    config = TrainConfig(domain=domain, dataset=dataset, data_dir=data_dir,
                         model=(model or "").strip() or None, width=w or None, epochs=n_epochs,
                         batch_size=_int("batch size", batch_size, 1, MAX_BATCH), lr=None if lr is None else float(lr),
                         optimizer=optimizer or None, amp=amp or None, quiet=True,
                         out=str(new_run_dir(runs_dir, domain)))
    try:
        validate(config)
        if config.model is not None:
            check_model_domain(config.model, domain)
    except PublicError:
        raise
    except UserError as e:  # an option's message names the option and the value the user sent
        raise PublicError(" ".join(str(e).split())) from None
    return config


def _frame(rows: list[dict[str, Any]], columns: list[str], curves: tuple[str, ...]) -> pd.DataFrame:
    """Curve points as a plot frame, led by one empty point per curve name.

    The plot fixes its colour domain from the first value it renders and later only swaps the data, so
    every frame names all curves up front (as NaN points, which are not drawn).
    """
    x, y, c = columns
    seed = [{x: float("nan"), y: float("nan"), c: name} for name in curves]
    return pd.DataFrame(seed + rows, columns=columns).astype({x: "float64", y: "float64", c: "str"})


def _width_info(domain: str) -> str:
    """What the width field's value means, for the domain's preset."""
    return f"first-stage channels: {PRESETS[domain]['width']} = this quick preset, 0 = the recipe's"


def default_data_root(runs_dir: str | Path) -> Path:
    """The data root when none is given: a `data` folder beside the runs dir."""
    return Path(runs_dir).resolve().parent / "data"


def build_app(runs_dir: str | Path = "runs", *, data_root: str | Path | None = None, max_epochs: int | None = None,
              max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB, max_uploads_mb: int | None = None,
              classify_per_minute: int | None = None, train_per_minute: int | None = None) -> gr.Blocks:
    """The whole app; `runs_dir` is where Train writes runs and where Classify looks for image checkpoints.

    data_root: the only folder the Train tab reads and uploads go to (default: `data` beside the runs dir,
    created). max_epochs: the most epochs a job may ask for (None: no cap). max_upload_mb: the most one
    dataset upload may add to the data root (the file, and a zip's extracted files); max_uploads_mb: the most
    all uploads together may hold (None: no cap). classify_per_minute / train_per_minute: per-client rate
    limits of /classify and of /train and uploads (None: none).
    """
    from resnet_any import list_models
    from resnet_any.data import list_datasets
    from resnet_any.train.config import AMP_MODES, OPTIMIZERS

    runs = Path(runs_dir).resolve()
    runs.mkdir(parents=True, exist_ok=True)
    root = DataRoot(default_data_root(runs) if data_root is None else data_root)
    predictors = PredictorCache()
    registry = JobRegistry()
    # each session's last finished run, for the Train tab's "Explain it": a session reaches only its own runs
    last_runs: OrderedDict[str, Path] = OrderedDict()
    classify_limit = RateLimiter(classify_per_minute, "classify")
    train_limit = RateLimiter(train_per_minute, "training")
    upload_limit = RateLimiter(train_per_minute, "upload")
    max_upload_bytes = int(max_upload_mb) * 2**20
    max_uploads_bytes = None if max_uploads_mb is None else int(max_uploads_mb) * 2**20
    # image datasets are decoded with PIL: a small file declaring a huge image must fail, not fill the memory
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS

    # ---- classify -------------------------------------------------------------------------------

    def _predict(image: Image.Image, choice: str | None) -> tuple[Any, dict[str, float], float]:
        predictor = predictors.get(resolve_checkpoint(choice, runs))
        labels, ms = top_k(predictor, image)
        return predictor, labels, ms

    def classify_api(image: str | None, checkpoint: str | None = SHIPPED,
                     request: gr.Request | None = None) -> dict[str, float]:
        """Top-5 classes of one image file with the chosen checkpoint (default: the shipped MNIST model)."""
        try:
            classify_limit.check(client_id(request))
            _, labels, _ = _predict(open_upload(image), checkpoint)
            return labels
        except Exception as e:  # noqa: BLE001 - every failure reaches the user as one public line
            raise _public(e, root, CLASSIFY_FALLBACK) from None

    def classify_upload(path: str | None, checkpoint: str | None,
                        request: gr.Request | None = None) -> tuple[Any, str, Any, Any, str]:
        if path is None:
            return None, "", None, None, "upload"
        try:
            classify_limit.check(client_id(request))
            image = open_upload(path)
            predictor, labels, ms = _predict(image, checkpoint)
            return (labels, describe(predictor, checkpoint or SHIPPED, ms), model_input(predictor, image),
                    looked_at(predictor, image), "upload")
        except Exception as e:  # noqa: BLE001
            raise _public(e, root, CLASSIFY_FALLBACK) from None

    def classify_sketch(value: dict | None, checkpoint: str | None,
                        request: gr.Request | None = None) -> tuple[Any, str, Any, Any, str]:
        try:
            classify_limit.check(client_id(request))
            predictor = predictors.get(resolve_checkpoint(checkpoint, runs))
            image = sketch_to_image(value, predictor.data)
            if image is None:
                return None, "draw something: one digit, filling most of the canvas", None, None, "sketch"
            labels, ms = top_k(predictor, image)
            return (labels, describe(predictor, checkpoint or SHIPPED, ms), model_input(predictor, image),
                    looked_at(predictor, image), "sketch")
        except Exception as e:  # noqa: BLE001
            raise _public(e, root, CLASSIFY_FALLBACK) from None

    def classify_again(path: str | None, sketch: dict | None, checkpoint: str | None, source: str,
                       request: gr.Request | None = None) -> tuple:
        if source == "sketch":
            return classify_sketch(sketch, checkpoint, request)
        return classify_upload(path, checkpoint, request)

    def refresh_checkpoints(current: str | None) -> Any:
        choices = list_checkpoints(runs)
        values = {v for _, v in choices}
        return gr.update(choices=choices, value=current if current in values else SHIPPED)

    # ---- train ----------------------------------------------------------------------------------

    def capped(n: int) -> int:
        return n if max_epochs is None else min(n, max_epochs)

    def domain_changed(domain: str, current: str | None = None) -> tuple:
        p = PRESETS.get(domain, PRESETS["image"])
        # a path (an upload's) stays: the upload comes first, then the user says which domain it is
        keep = isinstance(current, str) and "/" in current
        return (gr.update(choices=list_datasets(domain), value=current if keep else p["dataset"]),
                gr.update(choices=list_models(domain), value=p["model"]),
                gr.update(value=p["width"], info=_width_info(domain)), capped(p["epochs"]), p["batch_size"], p["lr"],
                p["optimizer"])

    def new_job(request: gr.Request) -> str:
        return registry.new_key(request.session_hash)

    def stop_job(request: gr.Request) -> None:
        # by session, not by the key in State: a second Start click would have replaced that key
        registry.stop_session(request.session_hash)

    def upload_dataset(path: str | None, request: gr.Request | None = None) -> tuple[Any, str, str]:
        """Save an uploaded dataset (a zip of a folder, or one CSV, TSV, Parquet or npz table) into the data root;
        returns the domain read from its files (None when they do not say), its path in the data root (what the
        dataset field takes) and a status line."""
        from resnet_any.data import infer_domain

        try:
            upload_limit.check(client_id(request))
            rel = save_upload(path, root, max_upload_bytes, max_uploads_bytes)
            try:
                found = infer_domain(str(root.path / rel))
            except Exception:  # noqa: BLE001 - the domain is a convenience; the loader says what is wrong later
                found = None
        except Exception as e:  # noqa: BLE001 - every failure reaches the user as one public line
            raise _public(e, root, UPLOAD_FALLBACK) from None
        found = found if found in DOMAINS else None
        what = f"{found} data" if found else "a dataset (pick its domain)"
        return (found if found else gr.skip()), rel, (
            f"uploaded {what}: the dataset field now holds `{rel}`; press **Start** to train on it (the path is "
            f"yours: keep it to train on the data again)")

    async def train(domain: str, dataset: str, data_dir: str, model: str, width: float, epochs: float,
                    batch_size: float, lr: float, optimizer: str, amp: str, key: str | None = None,
                    request: gr.Request | None = None):
        """Train with the shared Trainer, streaming (status, loss curve, accuracy curve, result, confusion, models)."""
        stop = registry.flag(key)
        try:
            train_limit.check(client_id(request))
            # off the event loop: checking a folder under the data root walks it
            config = await asyncio.to_thread(make_config, runs, domain, dataset, data_dir, model, width, epochs,
                                             batch_size, lr, optimizer, amp, root=root, max_epochs=max_epochs)
        except Exception as e:  # noqa: BLE001 - every failure reaches the user as one public line
            registry.release(key)
            text = _public(e, root).message
            yield _error_status(text), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            raise gr.Error(text, print_exception=False) from None
        job = TrainJob(config, stop, root.path).start()
        progress = Progress()
        last, dirty = time.monotonic(), False
        try:
            empty = _frame([], LOSS_COLUMNS, LOSS_CURVES), _frame([], ACC_COLUMNS, ACC_CURVES)
            yield progress.status(), empty[0], empty[1], "", gr.update(value=None, visible=False), gr.skip()
            while True:
                done = job.done.is_set()  # read before draining: the thread queues everything before setting it
                records = job.drain()
                for rec in records:
                    progress.add(rec)
                dirty = dirty or bool(records)
                progress.stop_requested = stop.is_set()
                now = time.monotonic()
                if done or (dirty and now - last >= STREAM_MIN_S) or now - last >= HEARTBEAT_S:
                    plots = (gr.skip(), gr.skip())
                    if dirty:
                        loss_rows = progress.loss_rows()
                        # a new axis range makes a plot lay itself out again (a new frame alone only swaps the
                        # data, keeping the margins of the empty chart drawn in the hidden tab, which clipped the
                        # tick labels and axis titles); round ranges change rarely
                        x_lim = [0, _nice_top(r["epoch"] for r in loss_rows)]
                        plots = (gr.update(value=_frame(loss_rows, LOSS_COLUMNS, LOSS_CURVES), x_lim=x_lim,
                                           y_lim=[0, _nice_top(r["loss"] for r in loss_rows)]),
                                 gr.update(value=_frame(progress.acc_rows(), ACC_COLUMNS, ACC_CURVES), x_lim=x_lim))
                    if done:
                        break
                    yield progress.status(job.waiting), plots[0], plots[1], gr.skip(), gr.skip(), gr.skip()
                    last, dirty = now, False
                await asyncio.sleep(POLL_S)
            if job.error is not None:
                yield _error_status(job.error), plots[0], plots[1], "", gr.skip(), gr.skip()
                raise gr.Error(job.error, print_exception=False)
            confusion = gr.skip()
            if progress.confusion is not None:
                confusion = gr.update(value=Image.open(io.BytesIO(progress.confusion["png"])), visible=True)
            models = gr.update(choices=list_checkpoints(runs)) if domain == "image" else gr.skip()
            if request is not None and (Path(config.out) / "best.pt").is_file():
                last_runs[request.session_hash] = Path(config.out)
                while len(last_runs) > LAST_RUNS:
                    last_runs.popitem(last=False)
            final = progress.status() if progress.end is not None else "stopped before training started"
            yield final, plots[0], plots[1], progress.result(), confusion, models
        finally:
            # a cancelled request or a closed tab lands here too: the trainer stops after its current step
            stop.set()
            registry.release(key)

    def explain_sample(n: Any, request: gr.Request | None = None) -> tuple[Any, str]:
        """Explain test sample `n` of this session's last run: its picture and one line."""
        from resnet_any.inference.checkpoint_data import checkpoint_data
        from resnet_any.explain.render import explain_test_sample
        from resnet_any.inference.predictor import Predictor

        try:
            classify_limit.check(client_id(request))
            run = last_runs.get(request.session_hash) if request is not None else None
            if run is None:
                raise PublicError("train a model first: Explain shows what the last finished run looked at")
            index = _int("test sample", n, 0) or 0
            pred = Predictor.from_checkpoint(run / "best.pt")
            png, rec = explain_test_sample(pred, checkpoint_data(run / "best.pt", pred.meta), index)
        except Exception as e:  # noqa: BLE001 - every failure reaches the user as one public line
            raise _public(e, root, EXPLAIN_FALLBACK) from None
        line = (f"{rec['input']} of **{run.name}**: predicted **{rec['predicted']}** "
                f"({rec['probabilities'][rec['predicted']]:.3f}) · {rec['method']}")
        return Image.open(io.BytesIO(png)), line

    async def train_page(domain: str, dataset: str, data_dir: str, model: str, width: float, epochs: float,
                         batch_size: float, lr: float, optimizer: str, amp: str, key: str | None = None,
                         request: gr.Request | None = None):
        """`train` for the page's Start button: a failure ends in the status line alone. An error raised to gradio
        would add a pop-up repeating it and an "Error" badge on each output; API clients (/train) still get it."""
        try:
            async for out in train(domain, dataset, data_dir, model, width, epochs, batch_size, lr, optimizer, amp,
                                   key, request):
                yield out
        except gr.Error:
            return

    # ---- layout ---------------------------------------------------------------------------------

    with gr.Blocks(title="resnet_any", delete_cache=(600, 3600)) as demo:
        gr.Markdown("## resnet_any: one residual network for images, time series and graphs")
        with gr.Tabs():
            with gr.Tab("Classify", id="classify"):
                with gr.Row():
                    checkpoint = gr.Dropdown(choices=list_checkpoints(runs), value=SHIPPED, label="Model",
                                             allow_custom_value=True, scale=5, elem_id="checkpoint")
                    refresh = gr.Button("Refresh list", size="sm", scale=0, min_width=120, elem_id="refresh")
                source = gr.State("upload")
                with gr.Row():
                    with gr.Column():
                        with gr.Tabs():
                            with gr.Tab("Upload", id="upload"):
                                image = _checked_upload(gr.Image(
                                    type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                    label="Image (PNG, JPEG, ... up to 10 MB)", height=320, elem_id="upload"))
                            with gr.Tab("Draw", id="draw"):
                                sketch = gr.Sketchpad(
                                    type="pil", image_mode="RGBA", format="png", canvas_size=(336, 336),
                                    fixed_canvas=True, layers=False, transforms=(), height=430,
                                    label="Draw a digit (pick the brush first)",
                                    brush=gr.Brush(default_size=14, colors=["#000000", "#1f4fd1", "#d12f2f"],
                                                   color_mode="defaults"),
                                    elem_id="sketch")
                    with gr.Column():
                        label = gr.Label(num_top_classes=5, label="Top 5", elem_id="label")
                        info = gr.Markdown(elem_id="info")
                        with gr.Row():
                            seen = gr.Image(label="What the model sees", interactive=False, height=160,
                                            buttons=[], elem_id="seen")
                            # resnet_any.explain: the class activation map of the top class (Grad-CAM where the
                            # last stage is too coarse), red where the evidence for it is
                            cam = gr.Image(label="Where it looked for the top class", interactive=False,
                                           height=160, buttons=[], elem_id="cam")
                # the API's /classify returns the Label alone, so it hangs off an invisible button of its own
                hidden = gr.Button(visible=False)
            with gr.Tab("Train", id="train"):
                p = PRESETS["image"]
                with gr.Row():
                    domain = gr.Dropdown(list(DOMAINS), value="image", label="Domain", elem_id="domain")
                    # custom values allowed: an API call's session only knows the image choices; the loader
                    # and the trainer refuse unknown names with a message listing the valid ones
                    dataset = gr.Dropdown(list_datasets("image"), value=p["dataset"], label="Dataset",
                                          allow_custom_value=True, elem_id="dataset")
                    data_dir = gr.Textbox("", label="Data dir in the data root (only for mnist, folder, manifest, "
                                                    "ucr, ts and UCR names)",
                                          placeholder="e.g. my_datasets/MNIST", elem_id="data_dir")
                with gr.Row():
                    # a short label: a long one wraps over the drop area at this height
                    dataset_file = gr.File(label=f"Upload a dataset (zip, CSV, TSV, Parquet, npz; up to {max_upload_mb} MB)",
                                           file_types=list(UPLOAD_SUFFIXES), type="filepath",
                                           file_count="single", height=120, elem_id="dataset_file")
                    upload_status = gr.Markdown("Datasets by path are read from this server's data root only; "
                                                "upload yours here (a zip of a folder, or one table): the dataset "
                                                "field then holds its path.", elem_id="upload_status")
                with gr.Row():
                    model = gr.Dropdown(list_models("image"), value=p["model"], label="Model",
                                        allow_custom_value=True)
                    width = gr.Number(p["width"], precision=0, minimum=0, label="Width", info=_width_info("image"),
                                      elem_id="width")
                    epochs = gr.Number(capped(p["epochs"]), precision=0, minimum=1, maximum=max_epochs,
                                       label="Epochs" if max_epochs is None else f"Epochs (up to {max_epochs})",
                                       elem_id="epochs")
                    batch_size = gr.Number(p["batch_size"], precision=0, minimum=1, label="Batch size")
                    lr = gr.Number(p["lr"], minimum=0, label="Learning rate")
                    optimizer = gr.Dropdown(list(OPTIMIZERS), value=p["optimizer"], label="Optimizer")
                    amp = gr.Dropdown(list(AMP_MODES), value="auto",
                                      label="AMP (auto: bf16 where this machine computes it natively)")
                with gr.Row():
                    start = gr.Button("Start", variant="primary", elem_id="start")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop")
                status = gr.Markdown("Press **Start**: the defaults train a small ResNet on the embedded digits.",
                                     elem_id="status")
                with gr.Row():
                    # the plot's own legend is cut off below its frame (gradio 6.31), so the labels name the colours
                    loss_plot = gr.LinePlot(_frame([], LOSS_COLUMNS, LOSS_CURVES), x="epoch", y="loss", color="curve",
                                            color_map=CURVE_COLORS, colors_in_legend=[], show_label=True,
                                            label="Loss: train (blue), running train (light blue), val (orange)",
                                            elem_id="loss_plot")
                    acc_plot = gr.LinePlot(_frame([], ACC_COLUMNS, ACC_CURVES), x="epoch", y="accuracy", color="curve",
                                           color_map=CURVE_COLORS, colors_in_legend=[], show_label=True, y_lim=[0, 1],
                                           label="Accuracy: train (blue), val (orange)", elem_id="acc_plot")
                result = gr.Markdown(elem_id="result")
                confusion = gr.Image(label="Confusion matrix (test split)", visible=False, interactive=False,
                                     elem_id="confusion")
                with gr.Row(equal_height=True):
                    sample = gr.Number(0, precision=0, minimum=0, label="Test sample (number in the test split)",
                                       scale=2, elem_id="sample")
                    explain = gr.Button("Explain it: what the last run's model looked at", scale=3,
                                        elem_id="explain")
                explained_info = gr.Markdown(elem_id="explained_info")
                explained = gr.Image(label="Explained test sample", interactive=False, buttons=[],
                                     elem_id="explained")
                job_key = gr.State(None)
                hidden_train = gr.Button(visible=False)

        # ---- events ---------------------------------------------------------------------------------
        ui = dict(concurrency_id="classify", concurrency_limit=CLASSIFY_CONCURRENCY, api_visibility="private")
        hidden.click(classify_api, [image, checkpoint], label, api_name="classify", concurrency_id="classify",
                     concurrency_limit=CLASSIFY_CONCURRENCY)
        shown = [label, info, seen, cam, source]
        image.change(classify_upload, [image, checkpoint], shown, trigger_mode="always_last", **ui)
        sketch.change(classify_sketch, [sketch, checkpoint], shown, show_progress="hidden",
                      trigger_mode="always_last", **ui)
        checkpoint.change(classify_again, [image, sketch, checkpoint, source], shown, trigger_mode="always_last", **ui)
        refresh.click(refresh_checkpoints, checkpoint, checkpoint, queue=False, api_visibility="private")
        demo.load(refresh_checkpoints, checkpoint, checkpoint, queue=False, api_visibility="private")

        domain.change(domain_changed, [domain, dataset], [dataset, model, width, epochs, batch_size, lr, optimizer],
                      queue=False, api_visibility="private")
        train_inputs = [domain, dataset, data_dir, model, width, epochs, batch_size, lr, optimizer, amp, job_key]
        train_outputs = [status, loss_plot, acc_plot, result, confusion, checkpoint]
        # the status line reports progress itself
        start.click(new_job, None, job_key, queue=False, api_visibility="private").then(
            train_page, train_inputs, train_outputs, show_progress="hidden", api_visibility="private",
            concurrency_id="train", concurrency_limit=1)
        # the API's /train raises its failures, so it hangs off an invisible button of its own
        hidden_train.click(train, train_inputs, train_outputs, api_name="train", concurrency_id="train",
                           concurrency_limit=1)
        stop.click(stop_job, None, None, queue=False, api_visibility="private")
        # GNNExplainer takes seconds a node: one at a time, beside classification
        explain.click(explain_sample, sample, [explained, explained_info], api_visibility="private",
                      concurrency_id="explain", concurrency_limit=1)
        dataset_file.upload(upload_dataset, dataset_file, [domain, dataset, upload_status], api_name="upload_dataset",
                            concurrency_id="upload", concurrency_limit=1)
    return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, block: bool = True,
           auth: list[tuple[str, str]] | None = None, max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB) -> Any:
    """Serve `demo` offline: queue on (bounded), uploads capped (10 MB, or max_upload_mb if larger: images
    are checked against 10 MB again), no file served beyond gradio's own temp dir; `auth`: gradio's login, on
    every page and API route."""
    demo.queue(default_concurrency_limit=2, max_size=QUEUE_MAX)
    cap = MAX_UPLOAD if max_upload_mb * 2**20 <= MAX_UPLOAD_BYTES else f"{int(max_upload_mb)}mb"
    # allowed_paths stays empty: results reach the page as images in gradio's temp dir, never as paths into runs/
    return demo.launch(server_name=host, server_port=port, max_file_size=cap, show_error=False,
                       auth=auth or None,
                       auth_message="resnet_any: log in with the user name and password you were given",
                       allowed_paths=[], theme=THEME, ssr_mode=False, mcp_server=False, enable_monitoring=False,
                       pwa=False, share=False, inbrowser=False, prevent_thread_lock=not block,
                       # run history can push runs to a Hugging Face bucket: off, like every other network path
                       run_history=False, footer_links=["api", "settings"])
