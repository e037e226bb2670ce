"""The training layer: the loop behind ``tgm train/eval/predict`` and what it needs.

    loop.py         Trainer: the one training loop for every model (checkpoints, resume, Ctrl-C)
    cli.py          the ``tgm train``, ``tgm eval`` and ``tgm predict`` commands
    objectives/     what a run optimises and measures, one objective per kind of model
    run_config.py   a run's configuration (defaults per model and dataset), the optimizers
    run_folder.py   the run folder's files, checkpoints and their checks
    metrics.py      accuracy, Dice, IoU, detection F1
    plots.py        curves.png and predictions.png (plots_graph.py: the cortex surfaces, confusion matrices)
    predict_io.py   the files ``tgm predict`` reads and writes

Nothing below this layer (core, ops, nn, optim, data, models) imports it.
"""
