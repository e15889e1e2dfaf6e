"""The Gradio app (`python demos/app.py`): classify images with any image checkpoint, train any domain live.

layout.py builds the page and launches it; handlers.py holds what its events and the HTTP API run. Without
gradio: form.py turns the Train tab's inputs into a TrainConfig, plots.py the trainer's records into curves,
inference.py serves Classify, jobs.py runs training jobs, dataroot.py confines what the Train tab reads to the
data root, uploads.py puts uploaded datasets there, limits.py rate-limits clients, and messages.py is the one
place that decides what an error may tell a remote user.
Importing `resnet_any.app.layout` or `resnet_any.app.handlers` needs the `demo` extra (gradio); the other
modules do not.
"""
import os

# Before gradio is imported (it reads this at import time), whichever module imports it: nothing may reach the
# network.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
