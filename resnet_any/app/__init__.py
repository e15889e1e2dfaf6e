"""The Gradio app (`python demos/app.py`): classify images with any image checkpoint, train any domain live.

ui.py builds it; inference.py (Classify) and jobs.py (Train) hold the logic without gradio; dataroot.py
confines what the Train tab reads to the data root, uploads.py puts uploaded datasets there, limits.py
rate-limits clients, and messages.py is the one place that decides what an error may tell a remote user.
Importing `resnet_any.app.ui` needs the `demo` extra (gradio); the other modules do not.
"""
