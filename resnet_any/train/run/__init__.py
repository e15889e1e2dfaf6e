"""Run: executes a Plan. The loop (trainer), and what it builds from the Plan: task, optimizer and schedule,
regularizers, metrics, the best-epoch rule, health, checkpoint writing, records and sinks.

Nothing here checks options or decides for the user: that happened in resnet_any.train.plan, and a Plan is
never changed here (the run owns what changes: weights, optimizer state, data order).
"""
