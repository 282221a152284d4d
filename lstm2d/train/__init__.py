"""Training lstm2d models in PyTorch: ``lstm2d train`` and its Python API.

- ``config``: :class:`TrainConfig` and :class:`DataConfig`, the frozen description of a run (no torch import)
- ``arguments``: the ``train`` sub-command's argparse definition (no torch import, so ``lstm2d --help`` stays fast)
- ``data``: the data sources (``sensor-grid``, ``moving-digits``, ``moving-pattern`` for frames models; a user's
  ``.npz`` with an array per model input and a target per output) as tensors by input and output name
- ``model_setup``, ``spec_edit``: the model for a data set from a preset, spec or Keras file (input shapes, output
  units); ``spec_edit`` is the only module that looks at the spec's layers
- ``objective``: loss, metric and trivial baseline per output's task; a model of several outputs minimises their sum
- ``loop``: :func:`train`, the training loop (AMP, DDP, gradient clipping, LR schedules, Ctrl-C)
- ``checkpoint``: checkpoints in safetensors + JSON that resume to the same weights; no pickle
- ``distributed``, ``interrupt``, ``progress``, ``report``: torchrun set-up, Ctrl-C / SIGTERM, the progress bar,
  metrics CSV and loss curve; ``errors``: the errors the command line prints as one line
- ``demo``: the training part of ``lstm2d demo``

This package sits on top of ``torch_impl`` (it imports torch); ``lstm2d`` itself never imports it,
only the command line does, lazily. Run ``from lstm2d.train.loop import train``.
"""
