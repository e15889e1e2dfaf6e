"""The Gradio app (`python demos/app.py`): classify images with any image checkpoint, train any domain live.

Importing `resnet_any.app.ui` needs the `demo` extra (gradio); the inference and job modules do not.
"""
