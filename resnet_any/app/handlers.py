"""What the page's events and the HTTP API run: one `Handlers` per app, holding what its handlers share.

Every error a user sees passes `messages.public_message` (through `public_error`); one training job runs at a
time (jobs.py) and every request is rate-limited per client (limits.py). The layout (layout.py) wires these
methods to components; the logic without gradio lives in form.py, plots.py, jobs.py and inference.py.
"""
from __future__ import annotations

import asyncio
import html
import io
import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, AsyncIterator

import gradio as gr
from PIL import Image

from resnet_any.app.dataroot import DataRoot
from resnet_any.app.form import DOMAINS, make_config, quick_recipe, whole_number, width_info
from resnet_any.app.inference import (SHIPPED, PredictorCache, describe, list_checkpoints, looked_at, model_input,
                                      open_upload, resolve_checkpoint, sketch_to_image, tag_line, top_k)
from resnet_any.app.jobs import JobRegistry, Progress, TrainJob
from resnet_any.app.limits import RateLimiter, client_id
from resnet_any.app.messages import PublicError, public_message
from resnet_any.app.plots import empty_frames, plot_values
from resnet_any.app.uploads import save_upload
from resnet_any.errors import UserError

log = logging.getLogger(__name__)
CLASSIFY_FALLBACK = "cannot classify with this model; the details are in the server's log"
EXPLAIN_FALLBACK = "cannot explain this sample; the details are in the server's log"
UPLOAD_FALLBACK = "cannot save this upload; the details are in the server's log"
LAST_RUNS = 256  # sessions whose last run is remembered for Explain
STREAM_MIN_S = 0.5  # at most two UI updates a second: the trainer emits ten
HEARTBEAT_S = 1.0  # at least one a second, so the elapsed time moves even during validation
POLL_S = 0.1
Outputs = tuple[Any, Any, Any, Any, Any, Any]  # (status, loss plot, accuracy plot, result, confusion, models)


def public_error(e: BaseException, root: DataRoot | None, fallback: str | None = None) -> gr.Error:
    """An exception as the gr.Error a remote user sees: messages.public_message decides its text."""
    if isinstance(e, gr.Error):  # raised by this app with a public text already
        return e
    if isinstance(e, UserError):  # the full text, values and paths included, is for the operator only
        log.info("refused: %s", " ".join(str(e).split()))
    else:
        log.error("request failed", exc_info=e)
    text = public_message(e, None if root is None else root.path, *(() if fallback is None else (fallback,)))
    return gr.Error(text, print_exception=False)


def error_status(text: str) -> str:
    """The status line of a failed run: the one place the error shows (Markdown: a `<class>` in a hint stays text)."""
    return "error: " + html.escape(text).replace("*", "\\*")


class Handlers:
    """The app's event handlers over its shared state: runs dir, data root, predictors, jobs and rate limits.

    The limits and sizes are build_app's (layout.py), where they are documented.
    """

    def __init__(self, runs: Path, root: DataRoot, *, max_epochs: int | None, max_upload_bytes: int,
                 max_uploads_bytes: int | None, classify_per_minute: int | None,
                 train_per_minute: int | None) -> None:
        self.runs, self.root, self.max_epochs = runs, root, max_epochs
        self.max_upload_bytes, self.max_uploads_bytes = max_upload_bytes, max_uploads_bytes
        self.predictors = PredictorCache()
        self.registry = JobRegistry()
        # each session's last finished run, for the Train tab's "Explain it": a session reaches only its own runs
        self.last_runs: OrderedDict[str, Path] = OrderedDict()
        self.classify_limit = RateLimiter(classify_per_minute, "classify")
        self.train_limit = RateLimiter(train_per_minute, "training")
        self.upload_limit = RateLimiter(train_per_minute, "upload")

    # ---- classify -------------------------------------------------------------------------------

    def _predict(self, image: Image.Image, choice: str | None) -> tuple[Any, dict[str, float] | str, float]:
        predictor = self.predictors.get(resolve_checkpoint(choice, self.runs))
        labels, ms = top_k(predictor, image)
        return predictor, labels, ms

    def classify_api(self, image: str | None, checkpoint: str | None = SHIPPED,
                     request: gr.Request | None = None) -> dict[str, float] | str:
        """Top-5 classes of one image file with the chosen checkpoint (default: the shipped MNIST model).

        A multilabel checkpoint gives every tag's probability; a regress one its values, as text."""
        try:
            self.classify_limit.check(client_id(request))
            _, labels, _ = self._predict(open_upload(image), checkpoint)
            return labels
        except Exception as e:  # noqa: BLE001 - every failure reaches the user as one public line
            raise public_error(e, self.root, CLASSIFY_FALLBACK) from None

    def classify_upload(self, path: str | None, checkpoint: str | None,
                        request: gr.Request | None = None) -> tuple[Any, str, Any, Any, str]:
        """The Upload tab's image: (top 5, model line, what the model sees, where it looked, "upload")."""
        if path is None:
            return None, "", None, None, "upload"
        try:
            self.classify_limit.check(client_id(request))
            image = open_upload(path)
            predictor, labels, ms = self._predict(image, checkpoint)
            return (labels, self._describe(predictor, checkpoint, ms, image), model_input(predictor, image),
                    looked_at(predictor, image), "upload")
        except Exception as e:  # noqa: BLE001
            raise public_error(e, self.root, CLASSIFY_FALLBACK) from None

    def classify_sketch(self, value: dict | None, checkpoint: str | None,
                        request: gr.Request | None = None) -> tuple[Any, str, Any, Any, str]:
        """The Draw tab's sketch: (top 5, model line, what the model sees, where it looked, "sketch")."""
        try:
            self.classify_limit.check(client_id(request))
            predictor = self.predictors.get(resolve_checkpoint(checkpoint, self.runs))
            image = sketch_to_image(value, predictor.data)
            if image is None:
                return None, "draw something: one digit, filling most of the canvas", None, None, "sketch"
            labels, ms = top_k(predictor, image)
            return (labels, self._describe(predictor, checkpoint, ms, image), model_input(predictor, image),
                    looked_at(predictor, image), "sketch")
        except Exception as e:  # noqa: BLE001
            raise public_error(e, self.root, CLASSIFY_FALLBACK) from None

    @staticmethod
    def _describe(predictor: Any, checkpoint: str | None, ms: float, image: Image.Image) -> str:
        line = describe(predictor, checkpoint or SHIPPED, ms)
        if getattr(predictor, "task", "classify") == "multilabel":
            line += "  \n" + tag_line(predictor, image)
        return line

    def classify_again(self, path: str | None, sketch: dict | None, checkpoint: str | None, source: str,
                       request: gr.Request | None = None) -> tuple:
        """The last classified input (upload or sketch) again, with a newly chosen model."""
        if source == "sketch":
            return self.classify_sketch(sketch, checkpoint, request)
        return self.classify_upload(path, checkpoint, request)

    def refresh_checkpoints(self, current: str | None) -> Any:
        """The model list as the runs dir holds it now, keeping the current choice if it is still there."""
        choices = list_checkpoints(self.runs)
        values = {v for _, v in choices}
        return gr.update(choices=choices, value=current if current in values else SHIPPED)

    # ---- train ----------------------------------------------------------------------------------

    def capped(self, n: int) -> int:
        """`n` epochs held to the server's cap."""
        return n if self.max_epochs is None else min(n, self.max_epochs)

    def domain_changed(self, domain: str, current: str | None = None) -> tuple:
        """The fields of a newly picked domain, holding its quick recipe (recipes.QUICK_RECIPES)."""
        from resnet_any import list_models
        from resnet_any.data import list_datasets

        p = quick_recipe(domain)
        # a path (an upload's) stays: the upload comes first, then the user says which domain it is
        keep = isinstance(current, str) and "/" in current
        return (gr.update(choices=list_datasets(domain), value=current if keep else p["dataset"]),
                gr.update(choices=list_models(domain), value=p["model"]),
                gr.update(value=p["width"], info=width_info(domain)), self.capped(p["epochs"]), p["batch_size"],
                p["lr"], p["optimizer"])

    def new_job(self, request: gr.Request) -> str:
        """A job key for this session's Start click, so that Stop also reaches the job while it is queued."""
        return self.registry.new_key(request.session_hash)

    def stop_job(self, request: gr.Request) -> None:
        """Stop every job of this session."""
        # by session, not by the key in State: a second Start click would have replaced that key
        self.registry.stop_session(request.session_hash)

    def upload_dataset(self, path: str | None, request: gr.Request | None = None) -> tuple[Any, str, str]:
        """Save an uploaded dataset (a zip of a folder, or one CSV, TSV, Parquet or npz table) into the data root;
        returns the domain read from its files (None when they do not say), its path in the data root (what the
        dataset field takes) and a status line."""
        from resnet_any.data import infer_domain

        try:
            self.upload_limit.check(client_id(request))
            rel = save_upload(path, self.root, self.max_upload_bytes, self.max_uploads_bytes)
            try:
                found = infer_domain(str(self.root.path / rel))
            except Exception:  # noqa: BLE001 - the domain is a convenience; the loader says what is wrong later
                found = None
        except Exception as e:  # noqa: BLE001 - every failure reaches the user as one public line
            raise public_error(e, self.root, UPLOAD_FALLBACK) from None
        found = found if found in DOMAINS else None
        what = f"{found} data" if found else "a dataset (pick its domain)"
        return (found if found else gr.skip()), rel, (
            f"uploaded {what}: the dataset field now holds `{rel}`; press **Start** to train on it (the path is "
            f"yours: keep it to train on the data again)")

    async def train(self, domain: str = "image", dataset: str | None = None, data_dir: str | None = None,
                    model: str | None = None, width: float | None = None, epochs: float | None = None,
                    batch_size: float | None = None, lr: float | None = None, optimizer: str | None = None,
                    amp: str | None = None, key: str | None = None,
                    request: gr.Request | None = None) -> AsyncIterator[Outputs]:
        """Train with the shared Trainer, streaming (status, loss curve, accuracy curve, result, confusion, models).

        An input left out (None) is not set: the trainer's plan resolves it as the command line would."""
        stop = self.registry.flag(key)
        try:
            self.train_limit.check(client_id(request))
            # off the event loop: checking a folder under the data root walks it
            config = await asyncio.to_thread(make_config, self.runs, domain, dataset, data_dir, model, width, epochs,
                                             batch_size, lr, optimizer, amp, root=self.root,
                                             max_epochs=self.max_epochs)
        except Exception as e:  # noqa: BLE001 - every failure reaches the user as one public line
            self.registry.release(key)
            text = public_error(e, self.root).message
            yield error_status(text), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            raise gr.Error(text, print_exception=False) from None
        job = TrainJob(config, stop, self.root.path, max_epochs=self.max_epochs).start()
        progress = Progress()
        last, dirty = time.monotonic(), False
        try:
            empty = empty_frames()
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
                    plots: tuple[Any, Any] = (gr.skip(), gr.skip())
                    if dirty:
                        loss, acc = plot_values(progress)
                        plots = (gr.update(**loss), gr.update(**acc))
                    if done:
                        break
                    yield progress.status(job.waiting), plots[0], plots[1], gr.skip(), gr.skip(), gr.skip()
                    last, dirty = now, False
                await asyncio.sleep(POLL_S)
            if job.error is not None:
                yield error_status(job.error), plots[0], plots[1], "", gr.skip(), gr.skip()
                raise gr.Error(job.error, print_exception=False)
            confusion = gr.skip()
            if progress.confusion is not None:
                confusion = gr.update(value=Image.open(io.BytesIO(progress.confusion["png"])), visible=True,
                                      label=progress.confusion.get("title", "Confusion matrix (test split)"))
            models = gr.update(choices=list_checkpoints(self.runs)) if domain == "image" else gr.skip()
            if request is not None and (Path(config.out) / "best.pt").is_file():
                self.last_runs[request.session_hash] = Path(config.out)
                while len(self.last_runs) > LAST_RUNS:
                    self.last_runs.popitem(last=False)
            final = progress.status() if progress.end is not None else "stopped before training started"
            yield final, plots[0], plots[1], progress.result(), confusion, models
        finally:
            # a cancelled request or a closed tab lands here too: the trainer stops after its current step
            stop.set()
            self.registry.release(key)

    async def train_page(self, domain: str, dataset: str, data_dir: str, model: str, width: float, epochs: float,
                         batch_size: float, lr: float, optimizer: str, amp: str, key: str | None = None,
                         request: gr.Request | None = None) -> AsyncIterator[Outputs]:
        """`train` for the page's Start button: a failure ends in the status line alone. An error raised to gradio
        would add a pop-up repeating it and an "Error" badge on each output; API clients (/train) still get it."""
        try:
            async for out in self.train(domain, dataset, data_dir, model, width, epochs, batch_size, lr, optimizer,
                                        amp, key, request):
                yield out
        except gr.Error:
            return

    def explain_sample(self, n: Any, request: gr.Request | None = None) -> tuple[Any, str]:
        """Explain test sample `n` of this session's last run: its picture and one line."""
        from resnet_any.inference.checkpoint_data import checkpoint_data
        from resnet_any.explain.render import explain_test_sample
        from resnet_any.inference.predictor import Predictor

        try:
            self.classify_limit.check(client_id(request))
            run = self.last_runs.get(request.session_hash) if request is not None else None
            if run is None:
                raise PublicError("train a model first: Explain shows what the last finished run looked at")
            index = whole_number("test sample", n, 0) or 0
            pred = Predictor.from_checkpoint(run / "best.pt")
            png, rec = explain_test_sample(pred, checkpoint_data(run / "best.pt", pred.meta), index)
        except Exception as e:  # noqa: BLE001 - every failure reaches the user as one public line
            raise public_error(e, self.root, EXPLAIN_FALLBACK) from None
        line = f"{rec['input']} of **{run.name}**: predicted **{rec['summary']}** · {rec['method']}"
        return Image.open(io.BytesIO(png)), line
