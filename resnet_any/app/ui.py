"""The Gradio Blocks app: a Classify tab and a Train tab over the toolkit's Predictor and Trainer."""
from __future__ import annotations

import asyncio
import io
import math
import os
import time
from pathlib import Path
from typing import Any

# Before gradio is imported: it reads this at import time, and nothing may reach the network.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from resnet_any.app.inference import (SHIPPED, PredictorCache, describe, list_checkpoints, model_input,  # noqa: E402
                                      open_upload, resolve_checkpoint, sketch_to_image, top_k)
from resnet_any.app.jobs import PRESETS, JobRegistry, Progress, TrainJob, new_run_dir  # noqa: E402
from resnet_any.errors import UserError  # noqa: E402

DOMAINS = ("image", "series", "graph")
MAX_UPLOAD = "10mb"
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


def _user_error(e: UserError) -> gr.Error:
    return gr.Error(" ".join(str(e).split()), print_exception=False)


def _int(name: str, value: Any, minimum: int) -> int | None:
    """An integer input (API clients may send 5.0), None when empty; a UserError otherwise."""
    if value is None or value == "":
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or float(value) != int(value)):
        raise UserError(f"{name} must be a whole number, got {value!r}")
    if int(value) < minimum:
        raise UserError(f"{name} must be >= {minimum}, got {int(value)}")
    return int(value)


def make_config(runs_dir: Path, domain: str, dataset: str, data_dir: str | None, model: str, width: Any,
                epochs: Any, batch_size: Any, lr: Any, optimizer: str, amp: str) -> Any:
    """The Train tab's inputs as a TrainConfig writing into a new run dir under runs_dir."""
    from resnet_any.train import TrainConfig

    if domain not in DOMAINS:
        raise UserError(f"unknown domain {domain!r}; valid: {', '.join(DOMAINS)}")
    if dataset and ("/" in dataset or "\\" in dataset or Path(dataset).expanduser().exists()):
        # the CLI reads a user's own files by path; a web app serving strangers must not hand them the
        # server's files (cell values would reach the answer) until it confines paths to a data root
        raise UserError("the app trains on dataset names; a path to files is not accepted here (use the CLI, "
                        "or a dataset name with the data dir field)")
    w = _int("width", width, 0)
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))):
        raise UserError(f"learning rate must be a number, got {lr!r}")
    return TrainConfig(domain=domain, dataset=dataset or None, data_dir=(data_dir or "").strip() or None,
                       model=model or None, width=w or None, epochs=_int("epochs", epochs, 1),
                       batch_size=_int("batch size", batch_size, 1), lr=None if lr is None else float(lr),
                       optimizer=optimizer or None, amp=amp or None, quiet=True,
                       out=str(new_run_dir(runs_dir, domain)))


def _frame(rows: list[dict[str, Any]], columns: list[str], curves: tuple[str, ...]) -> pd.DataFrame:
    """Curve points as a plot frame, led by one empty point per curve name.

    The plot fixes its colour domain from the first value it renders and later only swaps the data, so
    every frame names all curves up front (as NaN points, which are not drawn).
    """
    x, y, c = columns
    seed = [{x: float("nan"), y: float("nan"), c: name} for name in curves]
    return pd.DataFrame(seed + rows, columns=columns).astype({x: "float64", y: "float64", c: "str"})


def build_app(runs_dir: str | Path = "runs") -> gr.Blocks:
    """The whole app; `runs_dir` is where Train writes runs and where Classify looks for image checkpoints."""
    from resnet_any import list_models
    from resnet_any.data import list_datasets
    from resnet_any.train.config import AMP_MODES, OPTIMIZERS

    runs = Path(runs_dir).resolve()
    runs.mkdir(parents=True, exist_ok=True)
    predictors = PredictorCache()
    registry = JobRegistry()

    # ---- classify -------------------------------------------------------------------------------

    def _predict(image: Image.Image, choice: str | None) -> tuple[Any, dict[str, float], float]:
        predictor = predictors.get(resolve_checkpoint(choice, runs))
        labels, ms = top_k(predictor, image)
        return predictor, labels, ms

    def classify_api(image: str | None, checkpoint: str | None = SHIPPED) -> dict[str, float]:
        """Top-5 classes of one image file with the chosen checkpoint (default: the shipped MNIST model)."""
        try:
            _, labels, _ = _predict(open_upload(image), checkpoint)
            return labels
        except UserError as e:
            raise _user_error(e) from None

    def classify_upload(path: str | None, checkpoint: str | None) -> tuple[Any, str, Any, str]:
        if path is None:
            return None, "", None, "upload"
        try:
            image = open_upload(path)
            predictor, labels, ms = _predict(image, checkpoint)
            return labels, describe(predictor, checkpoint or SHIPPED, ms), model_input(predictor, image), "upload"
        except UserError as e:
            raise _user_error(e) from None

    def classify_sketch(value: dict | None, checkpoint: str | None) -> tuple[Any, str, Any, str]:
        try:
            predictor = predictors.get(resolve_checkpoint(checkpoint, runs))
            image = sketch_to_image(value, predictor.data)
            if image is None:
                return None, "draw something: one digit, filling most of the canvas", None, "sketch"
            labels, ms = top_k(predictor, image)
            return labels, describe(predictor, checkpoint or SHIPPED, ms), model_input(predictor, image), "sketch"
        except UserError as e:
            raise _user_error(e) from None

    def classify_again(path: str | None, sketch: dict | None, checkpoint: str | None, source: str) -> tuple:
        if source == "sketch":
            return classify_sketch(sketch, checkpoint)
        return classify_upload(path, checkpoint)

    def refresh_checkpoints(current: str | None) -> Any:
        choices = list_checkpoints(runs)
        values = {v for _, v in choices}
        return gr.update(choices=choices, value=current if current in values else SHIPPED)

    # ---- train ----------------------------------------------------------------------------------

    def domain_changed(domain: str) -> tuple:
        p = PRESETS.get(domain, PRESETS["image"])
        return (gr.update(choices=list_datasets(domain), value=p["dataset"]),
                gr.update(choices=list_models(domain), value=p["model"]),
                p["width"], p["epochs"], p["batch_size"], p["lr"], p["optimizer"])

    def new_job(request: gr.Request) -> str:
        return registry.new_key(request.session_hash)

    def stop_job(request: gr.Request) -> None:
        # by session, not by the key in State: a second Start click would have replaced that key
        registry.stop_session(request.session_hash)

    async def train(domain: str, dataset: str, data_dir: str, model: str, width: float, epochs: float,
                    batch_size: float, lr: float, optimizer: str, amp: str, key: str | None = None):
        """Train with the shared Trainer, streaming (status, loss curve, accuracy curve, result, confusion, models)."""
        stop = registry.flag(key)
        try:
            config = make_config(runs, domain, dataset, data_dir, model, width, epochs, batch_size, lr, optimizer, amp)
        except UserError as e:
            registry.release(key)
            raise _user_error(e) from None
        job = TrainJob(config, stop).start()
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
                        plots = (_frame(progress.loss_rows(), LOSS_COLUMNS, LOSS_CURVES),
                                 _frame(progress.acc_rows(), ACC_COLUMNS, ACC_CURVES))
                    if done:
                        break
                    yield progress.status(job.waiting), plots[0], plots[1], gr.skip(), gr.skip(), gr.skip()
                    last, dirty = now, False
                await asyncio.sleep(POLL_S)
            if job.error is not None:
                yield f"error: {job.error}", plots[0], plots[1], "", gr.skip(), gr.skip()
                raise gr.Error(job.error, print_exception=False)
            confusion = gr.skip()
            if progress.confusion is not None:
                confusion = gr.update(value=Image.open(io.BytesIO(progress.confusion["png"])), visible=True)
            models = gr.update(choices=list_checkpoints(runs)) if domain == "image" else gr.skip()
            final = progress.status() if progress.end is not None else "stopped before training started"
            yield final, plots[0], plots[1], progress.result(), confusion, models
        finally:
            # a cancelled request or a closed tab lands here too: the trainer stops after its current step
            stop.set()
            registry.release(key)

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
                        seen = gr.Image(label="What the model sees", interactive=False, height=140,
                                        buttons=[], elem_id="seen")
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
                    data_dir = gr.Textbox("", label="Data dir (only for datasets read from files)",
                                          placeholder="e.g. ../shared/data/MNIST, an image folder, a UCR folder")
                with gr.Row():
                    model = gr.Dropdown(list_models("image"), value=p["model"], label="Model",
                                        allow_custom_value=True)
                    width = gr.Number(p["width"], precision=0, minimum=0, label="Width (0: recipe default)")
                    epochs = gr.Number(p["epochs"], precision=0, minimum=1, label="Epochs", elem_id="epochs")
                    batch_size = gr.Number(p["batch_size"], precision=0, minimum=1, label="Batch size")
                    lr = gr.Number(p["lr"], minimum=0, label="Learning rate")
                    optimizer = gr.Dropdown(list(OPTIMIZERS), value=p["optimizer"], label="Optimizer")
                    amp = gr.Dropdown(list(AMP_MODES), value="off", label="AMP")
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
                job_key = gr.State(None)

        # ---- events ---------------------------------------------------------------------------------
        ui = dict(concurrency_id="classify", concurrency_limit=CLASSIFY_CONCURRENCY, api_visibility="private")
        hidden.click(classify_api, [image, checkpoint], label, api_name="classify", concurrency_id="classify",
                     concurrency_limit=CLASSIFY_CONCURRENCY)
        image.change(classify_upload, [image, checkpoint], [label, info, seen, source], trigger_mode="always_last",
                     **ui)
        sketch.change(classify_sketch, [sketch, checkpoint], [label, info, seen, source], show_progress="hidden",
                      trigger_mode="always_last", **ui)
        checkpoint.change(classify_again, [image, sketch, checkpoint, source], [label, info, seen, source],
                          trigger_mode="always_last", **ui)
        refresh.click(refresh_checkpoints, checkpoint, checkpoint, queue=False, api_visibility="private")
        demo.load(refresh_checkpoints, checkpoint, checkpoint, queue=False, api_visibility="private")

        domain.change(domain_changed, domain, [dataset, model, width, epochs, batch_size, lr, optimizer],
                      queue=False, api_visibility="private")
        start.click(new_job, None, job_key, queue=False, api_visibility="private").then(
            train, [domain, dataset, data_dir, model, width, epochs, batch_size, lr, optimizer, amp, job_key],
            [status, loss_plot, acc_plot, result, confusion, checkpoint], api_name="train",
            concurrency_id="train", concurrency_limit=1)
        stop.click(stop_job, None, None, queue=False, api_visibility="private")
    return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, block: bool = True) -> Any:
    """Serve `demo` offline: queue on, uploads capped at 10 MB, no file served beyond gradio's own temp dir."""
    demo.queue(default_concurrency_limit=2)
    # allowed_paths stays empty: results reach the page as images in gradio's temp dir, never as paths into runs/
    return demo.launch(server_name=host, server_port=port, max_file_size=MAX_UPLOAD, show_error=False,
                       allowed_paths=[], theme=THEME, ssr_mode=False, mcp_server=False, enable_monitoring=False,
                       pwa=False, share=False, inbrowser=False, prevent_thread_lock=not block,
                       # run history can push runs to a Hugging Face bucket: off, like every other network path
                       run_history=False, footer_links=["api", "settings"])
