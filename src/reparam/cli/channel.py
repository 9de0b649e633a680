"""``reparam channel``: the noisy-channel experiment."""

from __future__ import annotations

import argparse

from reparam._json import to_strict_json
from reparam._memory import format_bytes, memory_limit
from reparam.cli._parser import (
    UsageError,
    finite_float,
    int_at_least,
    plot_path,
    positive_float,
    print_error,
    seed_option,
)
from reparam.experiments.channel import (
    MODES,
    ChannelConfig,
    ChannelDiverged,
    ChannelResult,
    bytes_per_step,
    run_channel,
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "channel",
        help="train the noise of a Gaussian channel: why sampling needs reparameterizing",
        description=(
            "Send x ~ U(-1, 1) as y ~ N(x, delta), pay (y - x)^2, and learn delta by plain "
            "gradient descent. --mode naive samples y directly and cannot train; trick "
            "writes y = x + delta * eps; builtin uses Normal(x, delta).rsample()."
        ),
    )
    parser.add_argument("--mode", choices=list(MODES), default="trick")
    parser.add_argument("--steps", type=int_at_least(1), default=100, help="gradient steps")
    parser.add_argument("--lr", type=positive_float, default=0.1, help="learning rate (> 0)")
    parser.add_argument("--init", type=finite_float, default=1.0, help="initial delta")
    parser.add_argument("--seed", type=seed_option, default=0, help="0 <= seed < 2**63")
    parser.add_argument(
        "--samples", type=int_at_least(1), default=1, help="Monte Carlo samples per step"
    )
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--plot", type=plot_path, metavar="FILE.png", help="save loss and |delta| curves"
    )
    # the library's ValueErrors here are all checks of the options given
    parser.set_defaults(run=run, usage_errors=(UsageError, ValueError))


def run(args: argparse.Namespace) -> int:
    config = ChannelConfig(
        mode=args.mode,
        steps=args.steps,
        lr=args.lr,
        init=args.init,
        seed=args.seed,
        samples=args.samples,
        dtype=args.dtype,
    )
    _check_memory(config)
    try:
        result = run_channel(config)
    except ChannelDiverged as error:
        print_error(str(error))
        return 1
    if args.json:
        print(to_strict_json(result.to_dict()))
    else:
        print(format_table(result))
    if args.plot:
        from reparam.experiments.channel_plot import plot_channel

        path = plot_channel(result, args.plot)
        if not args.json:
            print(f"plot saved to {path}")
    return 0


def _check_memory(config: ChannelConfig) -> None:
    """Refuse a ``--samples`` whose every step cannot fit in this machine's memory."""
    limit = memory_limit()
    needed = bytes_per_step(config)
    if limit is not None and needed > limit:
        raise UsageError(
            f"--samples {config.samples}: each step needs at least {format_bytes(needed)} of "
            f"memory ({config.dtype}), more than the {format_bytes(limit)} here; use fewer samples"
        )


def format_table(result: ChannelResult) -> str:
    """A row every 10 steps (and the first), then a summary."""
    header = f"{'step':>5}  {'loss':>11}  {'delta':>11}  {'grad (MC)':>11}  {'exact 2δ':>11}"
    lines = [header, "-" * len(header)]
    for row in result.history:
        if row.step == 1 or row.step % 10 == 0 or row.step == len(result.history):
            lines.append(
                f"{row.step:>5}  {row.loss:>11.3e}  {row.delta:>11.3e}  "
                f"{row.grad:>11.3e}  {row.exact_grad:>11.3e}"
            )
    config = result.config
    lines += [
        "",
        f"mode {config.mode}: after {config.steps} steps (lr {config.lr}, "
        f"{config.samples} sample(s)/step, {config.dtype}, seed {config.seed})",
        f"  final delta = {result.final_delta:.3e}   final loss = {result.final_loss:.3e}",
        "  the exact objective is E[(y - x)^2] = delta^2 with gradient 2 delta; each step "
        "follows a Monte Carlo estimate of it",
    ]
    if result.final_loss == 0.0:
        lines.append(
            f"  a loss of exactly 0 means y - x rounded to 0 in {config.dtype}: |delta * eps| "
            "fell below the resolution of x (--dtype float64 resolves more)"
        )
    return "\n".join(lines)
