"""The Gradio app's page: its layout (a Classify tab and a Train tab), the events wiring it to handlers.py, and launch.

What the app may read, say and spend, for users who may be strangers (README, "The Gradio app"):
- the Train tab reads only the data root (dataroot.py) and the embedded dataset names; uploads land there
  (uploads.py);
- every error a user sees passes `messages.public_message`, the one place that decides what it may say;
- one training job at a time, epochs capped, per-client rate limits on /classify, /train and uploads
  (limits.py); the login, when there is one, is gradio's own (`launch(auth=...)`) and covers every route.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from resnet_any.app.dataroot import DataRoot
from resnet_any.app.form import DOMAINS, quick_recipe, width_info
from resnet_any.app.handlers import Handlers
from resnet_any.app.inference import MAX_PIXELS, MAX_UPLOAD_BYTES, SHIPPED, list_checkpoints
from resnet_any.app.plots import CURVE_COLORS, empty_frames
from resnet_any.app.uploads import UPLOAD_SUFFIXES

MAX_UPLOAD = "10mb"  # images; a larger --max-upload-mb raises gradio's cap for dataset uploads
DEFAULT_MAX_UPLOAD_MB = 10
QUEUE_MAX = 256  # requests waiting in gradio's queue, all endpoints together
# Classify is cheap (one small forward pass): several at once keep latency flat under load while a job trains.
CLASSIFY_CONCURRENCY = 4
# System fonts only: the default theme would ask the browser for web fonts.
THEME = gr.themes.Default(font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])


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
    from resnet_any.train.options import AMP_MODES, OPTIMIZERS

    runs = Path(runs_dir).resolve()
    runs.mkdir(parents=True, exist_ok=True)
    root = DataRoot(default_data_root(runs) if data_root is None else data_root)
    h = Handlers(runs, root, max_epochs=max_epochs, max_upload_bytes=int(max_upload_mb) * 2**20,
                 max_uploads_bytes=None if max_uploads_mb is None else int(max_uploads_mb) * 2**20,
                 classify_per_minute=classify_per_minute, train_per_minute=train_per_minute)
    # image datasets are decoded with PIL: a small file declaring a huge image must fail, not fill the memory
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS

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
                p = quick_recipe("image")  # what Start trains with no changes: small, real and quick
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
                # one set of keywords per field: the /train API's own inputs below are the same fields
                fields = dict(
                    model=(gr.Dropdown, dict(choices=list_models("image"), label="Model", allow_custom_value=True)),
                    width=(gr.Number, dict(precision=0, minimum=0, label="Width")),
                    epochs=(gr.Number, dict(precision=0, minimum=1, maximum=max_epochs,
                                            label="Epochs" if max_epochs is None else f"Epochs (up to {max_epochs})")),
                    batch_size=(gr.Number, dict(precision=0, minimum=1, label="Batch size")),
                    lr=(gr.Number, dict(minimum=0, label="Learning rate")),
                    optimizer=(gr.Dropdown, dict(choices=list(OPTIMIZERS), label="Optimizer")),
                    amp=(gr.Dropdown, dict(choices=list(AMP_MODES),
                                           label="AMP (auto: bf16 where this machine computes it natively)")))
                with gr.Row():
                    model = gr.Dropdown(value=p["model"], **fields["model"][1])
                    width = gr.Number(p["width"], info=width_info("image"), elem_id="width", **fields["width"][1])
                    epochs = gr.Number(h.capped(p["epochs"]), elem_id="epochs", **fields["epochs"][1])
                    batch_size = gr.Number(p["batch_size"], **fields["batch_size"][1])
                    lr = gr.Number(p["lr"], **fields["lr"][1])
                    optimizer = gr.Dropdown(value=p["optimizer"], **fields["optimizer"][1])
                    amp = gr.Dropdown(value="auto", **fields["amp"][1])
                with gr.Row():
                    start = gr.Button("Start", variant="primary", elem_id="start")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop")
                status = gr.Markdown("Press **Start**: the defaults train a small ResNet on the embedded digits.",
                                     elem_id="status")
                with gr.Row():
                    # the plot's own legend is cut off below its frame (gradio 6.31), so the labels name the colours
                    loss_plot = gr.LinePlot(empty_frames()[0], x="epoch", y="loss", color="curve",
                                            color_map=CURVE_COLORS, colors_in_legend=[], show_label=True,
                                            label="Loss: train (blue), running train (light blue), val (orange)",
                                            elem_id="loss_plot")
                    acc_plot = gr.LinePlot(empty_frames()[1], x="epoch", y="accuracy", color="curve",
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
                # the /train API's inputs besides domain and data dir: the page's fields without values, so an
                # option a caller leaves out reaches the trainer as not set and is derived as on the command line
                # (an API client fills a left-out parameter with its component's value)
                api_dataset = gr.Dropdown(list_datasets("image"), value=None, label="Dataset",
                                          allow_custom_value=True, visible=False)
                api_fields = {name: make(value=None, visible=False, **kw) for name, (make, kw) in fields.items()}

        # ---- events ---------------------------------------------------------------------------------
        ui = dict(concurrency_id="classify", concurrency_limit=CLASSIFY_CONCURRENCY, api_visibility="private")
        hidden.click(h.classify_api, [image, checkpoint], label, api_name="classify", concurrency_id="classify",
                     concurrency_limit=CLASSIFY_CONCURRENCY)
        shown = [label, info, seen, cam, source]
        image.change(h.classify_upload, [image, checkpoint], shown, trigger_mode="always_last", **ui)
        sketch.change(h.classify_sketch, [sketch, checkpoint], shown, show_progress="hidden",
                      trigger_mode="always_last", **ui)
        checkpoint.change(h.classify_again, [image, sketch, checkpoint, source], shown, trigger_mode="always_last", **ui)
        refresh.click(h.refresh_checkpoints, checkpoint, checkpoint, queue=False, api_visibility="private")
        demo.load(h.refresh_checkpoints, checkpoint, checkpoint, queue=False, api_visibility="private")

        domain.change(h.domain_changed, [domain, dataset], [dataset, model, width, epochs, batch_size, lr, optimizer],
                      queue=False, api_visibility="private")
        train_inputs = [domain, dataset, data_dir, model, width, epochs, batch_size, lr, optimizer, amp, job_key]
        api_inputs = [domain, api_dataset, data_dir, *api_fields.values(), job_key]
        train_outputs = [status, loss_plot, acc_plot, result, confusion, checkpoint]
        # the status line reports progress itself
        start.click(h.new_job, None, job_key, queue=False, api_visibility="private").then(
            h.train_page, train_inputs, train_outputs, show_progress="hidden", api_visibility="private",
            concurrency_id="train", concurrency_limit=1)
        # the API's /train raises its failures, so it hangs off an invisible button of its own
        hidden_train.click(h.train, api_inputs, train_outputs, api_name="train", concurrency_id="train",
                           concurrency_limit=1)
        stop.click(h.stop_job, None, None, queue=False, api_visibility="private")
        # GNNExplainer takes seconds a node: one at a time, beside classification
        explain.click(h.explain_sample, sample, [explained, explained_info], api_visibility="private",
                      concurrency_id="explain", concurrency_limit=1)
        dataset_file.upload(h.upload_dataset, dataset_file, [domain, dataset, upload_status], api_name="upload_dataset",
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
