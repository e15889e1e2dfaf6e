"""Inference on trained checkpoints: the library that `evaluate`, `predict`, `export`, explain, the app and bench share.

predictor.py          Predictor: a checkpoint plus its training preprocessing
inputs.py             the user's input files (images, series CSVs, folders of images)
file_predictions.py   top-k predictions for FILE arguments
dataset_predictions.py  one CSV row per node, graph or series of a dataset of the user's files
checkpoint_data.py    the data a checkpoint is scored on, read as training read it
evaluation.py         evaluate_checkpoint: scores, per-class scores, a check that the data is the run's
confusion.py          the confusion matrix and its PNG
export.py             a checkpoint to ONNX, TorchScript or a torch.export program

Above train, data and domains: it imports them, none of them imports it. The command lines are thin faces
over it (resnet_any/evaluate.py, predict.py, export.py, explain/__main__.py); nothing is imported here, so
importing one module of the package pays only for that module.
"""
