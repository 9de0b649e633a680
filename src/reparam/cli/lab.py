"""``reparam lab``: measure and compare gradient estimators on a built-in problem."""

from __future__ import annotations

import argparse

from reparam._json import to_strict_json
from reparam._memory import format_bytes
from reparam.cli import _lab_iwae
from reparam.cli._parser import (
    UsageError,
    comma_list,
    finite_float,
    int_at_least,
    plot_path,
    seed_option,
)
from reparam.lab import (
    DEFAULT_SAMPLES,
    DEFAULT_TRAIN_STEPS,
    PROBLEMS,
    TooLargeError,
    applicable,
    compare_problem,
    get_problem,
    takes_k,
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "lab",
        help="measure estimators' bias, variance, SNR and cost against exact gradients",
        description=(
            "Run each estimator many times (independent trials, batched) on a problem with a "
            "known exact gradient, at several numbers of samples S, and print per parameter: "
            "mean, bias ± standard error, variance, exact variance where known, SNR, time per "
            "estimate and variance x time. The recommendation is the unbiased estimator with "
            "the lowest variance x time."
        ),
    )
    parser.add_argument("--list", action="store_true", help="list the problems and exit")
    parser.add_argument(
        "--problem", metavar="NAME", help=f"one of: {', '.join([*PROBLEMS, _lab_iwae.NAME])}"
    )
    parser.add_argument(
        "--estimators",
        type=comma_list(str, "estimator names"),
        metavar="A,B,...",
        help="estimators' short names (default: every registered one that applies)",
    )
    parser.add_argument(
        "--samples",
        type=comma_list(int_at_least(1), "sample counts"),
        default=DEFAULT_SAMPLES,
        metavar="S1,S2,...",
        help=f"samples per estimate (default: {','.join(map(str, DEFAULT_SAMPLES))})",
    )
    parser.add_argument(
        "--trials",
        type=int_at_least(2),
        metavar="N",
        help="estimates per estimator and S (default: enough for a 5%% relative standard "
        "error on each variance, from the estimates' kurtosis)",
    )
    parser.add_argument(
        "--train-steps",
        type=int_at_least(0),
        metavar="N",
        help="an estimator with a learned part (relax) is also measured after N steps of "
        f"training it on the problem (default {DEFAULT_TRAIN_STEPS}; 0: untrained only)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="one row per scalar parameter (default: one per parameter tensor)",
    )
    parser.add_argument("--k", type=finite_float, help="the cost's k (quadratic, cos, bump)")
    parser.add_argument(
        "--seed", type=seed_option, default=0, help="fixes every random draw (default 0)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--plot", type=plot_path, metavar="FILE.png", help="save variance and spread panels"
    )
    # the library's ValueErrors here are all checks of the options given
    parser.set_defaults(run=run, usage_errors=(UsageError, ValueError))


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(format_list())
        return 0
    if args.problem is None:
        names = ", ".join([*PROBLEMS, _lab_iwae.NAME])
        raise UsageError(f"--problem is required; choose one of: {names}")
    if args.problem == _lab_iwae.NAME:
        given = [flag for flag, used in (("--full", args.full), ("--train-steps",
                 args.train_steps is not None)) if used]  # fmt: skip
        if given:
            raise UsageError(
                f"problem {_lab_iwae.NAME!r} compares gradient choices with nothing to train "
                f"and one parameter per row; {' and '.join(given)} do not apply"
            )
    try:
        if args.problem == _lab_iwae.NAME:
            return _lab_iwae.run(args)
        problem = get_problem(args.problem, k=args.k)
        result = compare_problem(
            problem,
            args.estimators,
            num_samples=args.samples,
            trials=args.trials,
            seed=args.seed,
            train_steps=DEFAULT_TRAIN_STEPS if args.train_steps is None else args.train_steps,
        )
    except TooLargeError as error:
        raise UsageError(_too_large(args, error)) from None
    if args.json:
        print(to_strict_json(result.to_dict(full=args.full)))
    else:
        print(result.table(full=args.full))
    if args.plot:
        from reparam.lab.plots import plot_comparison

        path = plot_comparison(result, args.plot)
        if not args.json:
            print(f"plot saved to {path}")
    return 0


def format_list() -> str:
    """Per problem: name, what it is, the estimators that apply, those with exact variances."""
    lines = ["problems (reparam lab --problem NAME):"]
    width = max(map(len, [*PROBLEMS, _lab_iwae.NAME]))
    for name in PROBLEMS:
        problem = get_problem(name)
        k = "  [--k]" if takes_k(name) else ""
        lines.append(f"  {name:<{width}}  {problem.summary}{k}")
        lines.append(f"  {'':<{width}}  estimators: {', '.join(applicable(problem))}")
        exact = ", ".join(problem.per_sample_variances) or "none"
        lines.append(f"  {'':<{width}}  exact variances: {exact}")
    lines += _lab_iwae.list_lines(width)
    return "\n".join(lines)


def _too_large(args: argparse.Namespace, error: TooLargeError) -> str:
    """The memory refusal in the options' words."""
    if args.trials is not None and args.trials == error.trials:
        sizes = f"--samples {error.num_samples} with --trials {args.trials}"
    elif args.problem == _lab_iwae.NAME:
        sizes = f"--samples {error.num_samples} with the default --trials {error.trials}"
    else:
        sizes = f"--samples {error.num_samples} (timed on a batch of {error.trials} trials)"
    return (
        f"{sizes}: one batch of estimates needs at least {format_bytes(error.needed)} of "
        f"memory, more than the {format_bytes(error.limit)} here; use fewer samples or trials"
    )
