"""The ``lstm2d train`` sub-command: its arguments, and turning them into a :class:`TrainConfig`.

Imports no torch: ``lstm2d --help`` and the other commands must not pay for it. The run itself
(``lstm2d.train.loop``) is imported when ``train`` is the command.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from lstm2d.presets import preset_names
from lstm2d.train.config import (
    AMP_MODES,
    BUILTIN_SOURCES,
    DEVICES,
    LAYOUTS,
    LR_SCHEDULES,
    DataConfig,
    ModelSource,
    TrainConfig,
)

EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention; the checkpoint is written


def add_train_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``train`` on the ``lstm2d`` sub-command parser."""
    train = commands.add_parser(
        "train",
        help="train a preset, spec or Keras model on a built-in data set or a .npz file",
        description="Train in PyTorch with validation each epoch beside the trivial baseline, metrics.csv and "
        "loss.png, and a checkpoint every epoch (and on Ctrl-C) that --resume continues exactly. Under "
        "`torchrun --nproc_per_node=N -m lstm2d train ...` it runs DistributedDataParallel.",
    )
    model = train.add_mutually_exclusive_group(required=True)
    model.add_argument("--preset", choices=preset_names(), help="a named preset, fresh weights")
    model.add_argument("--spec", type=Path, metavar="FILE", help="a ModelSpec JSON file, fresh weights")
    model.add_argument("--from-keras", type=Path, metavar="FILE", help="a Keras file (.keras, .h5): fine-tune its weights")

    data = train.add_argument_group("data")
    data.add_argument(
        "--data",
        required=True,
        metavar="SOURCE",
        help=f"{' | '.join(BUILTIN_SOURCES)} (frames models) | a .npz file: an array per model input (x for a model of one "
        "input) and a target per output (y, or y_<output name> for each of several)",
    )
    data.add_argument("--samples", type=int, help="built-in sources: sequences to generate, train + validation (default 4000)")
    data.add_argument("--val-fraction", type=float, default=0.2, help="share held out for validation (default 0.2)")
    data.add_argument("--timesteps", type=int, help="built-in sources: sequence length (default: the model's)")
    data.add_argument("--frame", type=_frame, metavar="HxW", help="built-in sources: frame size (default: the model's)")
    data.add_argument(
        "--layout",
        choices=LAYOUTS,
        help=".npz frames and grids: channels_last (N, T, H, W, C) or channels_first (N, T, C, H, W) (default: as the "
        "model's Keras form has them, channels_last unless it is a channels_first Keras model)",
    )

    loop = train.add_argument_group("training")
    loop.add_argument("--epochs", type=int, default=10, help="default 10")
    loop.add_argument("--batch-size", type=int, default=64, help="global batch, split over torchrun's processes (default 64)")
    loop.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (peak for onecycle; default 1e-3)")
    loop.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (default 0: Adam)")
    loop.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant", help="per-step schedule (default constant)")
    loop.add_argument("--clip-grad-norm", type=float, metavar="MAX", help="clip the global gradient norm to MAX")
    loop.add_argument("--seed", type=int, default=0, help="seed for data, initial weights and shuffling (default 0)")

    run = train.add_argument_group("running")
    run.add_argument("--device", choices=DEVICES, default="auto", help="auto: cuda if available, else cpu")
    run.add_argument("--amp", choices=AMP_MODES, default="off", help="mixed precision (fp16 adds a gradient scaler)")
    run.add_argument("--compile", action="store_true", help="torch.compile the model")
    run.add_argument("--workers", type=int, help="DataLoader worker processes (default: 0 on CPU, up to 4 on CUDA)")
    run.add_argument("--out", type=Path, required=True, metavar="DIR", help="metrics, plot, checkpoints and the final model")
    run.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    run.add_argument("--export-keras", type=Path, metavar="FILE", help="also write the trained model as a .keras file")
    train.set_defaults(run=run_train_command)


def _frame(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 16x16, got {text!r}")
    return int(match[1]), int(match[2])


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` the parsed arguments describe (raises ``TrainError`` on a bad combination)."""
    if args.preset:
        model = ModelSource("preset", args.preset)
    elif args.spec:
        model = ModelSource("spec", str(args.spec))
    else:
        model = ModelSource("keras", str(args.from_keras))
    return TrainConfig(
        model=model,
        data=DataConfig(
            source=args.data,
            samples=args.samples,
            val_fraction=args.val_fraction,
            timesteps=args.timesteps,
            frame=args.frame,
            layout=args.layout,
        ),
        out=args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        lr_schedule=args.lr_schedule,
        clip_grad_norm=args.clip_grad_norm,
        device=args.device,
        amp=args.amp,
        compile=args.compile,
        workers=args.workers,
        seed=args.seed,
        resume=args.resume,
        export_keras=args.export_keras,
    )


def run_train_command(args: argparse.Namespace) -> int:
    """``lstm2d train``: 0 when training finished, 130 when interrupted (a checkpoint was written), 2 on bad input."""
    from lstm2d.train.errors import TrainError

    try:
        config = config_from_args(args)
        from lstm2d.train.loop import train  # torch is imported from here on

        result = train(config)
    except TrainError as exc:
        print(f"lstm2d train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the loop took over Ctrl-C, or a second Ctrl-C
        print("lstm2d train: interrupted; no new checkpoint was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_INTERRUPTED if result.interrupted else 0
