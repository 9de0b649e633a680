"""``reparam lab --problem iwae-gaussian``: the IWAE gradients' SNR against ``k``.

The lab's options keep their meaning where they have one: ``--estimators``
names the gradient choices (``standard,stl,dreg``), ``--samples`` the numbers of
importance samples ``k`` (default 1,5,50,500), ``--trials`` the estimates per
choice and ``k``; ``--k`` (a cost's parameter) does not apply.
"""

from __future__ import annotations

import argparse

from reparam._json import to_strict_json
from reparam.bounds import GRADIENTS
from reparam.cli._parser import UsageError
from reparam.lab import DEFAULT_K, DEFAULT_SAMPLES, DEFAULT_TRIALS, iwae_study

NAME = "iwae-gaussian"
SUMMARY = (
    "importance-weighted bound on a linear-Gaussian model: SNR of standard, stl and dreg "
    f"gradients against k (--samples, default {','.join(map(str, DEFAULT_K))})"
)


def run(args: argparse.Namespace) -> int:
    """Run the study with the lab's parsed options; print a table or JSON, maybe plot."""
    if args.k is not None:
        raise UsageError(
            f"problem {NAME!r} has no parameter k; set the numbers of importance samples "
            "with --samples, e.g. --samples 1,5,50,500"
        )
    gradients = GRADIENTS if args.estimators is None else args.estimators
    unknown = [g for g in gradients if g not in GRADIENTS]
    if unknown:
        raise UsageError(
            f"--estimators for {NAME!r} are gradient choices, among {','.join(GRADIENTS)}; "
            f"got {','.join(unknown)}"
        )
    # An omitted --samples leaves argparse's default object in place.
    ks = DEFAULT_K if args.samples is DEFAULT_SAMPLES else args.samples
    trials = DEFAULT_TRIALS if args.trials is None else args.trials
    study = iwae_study(gradients=gradients, num_samples=ks, trials=trials, seed=args.seed)
    print(to_strict_json(study.to_dict()) if args.json else study)
    if args.plot:
        from reparam.lab.iwae_plots import plot_iwae_snr

        path = plot_iwae_snr(study, args.plot)
        if not args.json:
            print(f"plot saved to {path}")
    return 0


def list_lines(width: int) -> list[str]:
    """This problem's lines in ``reparam lab --list``."""
    return [
        f"  {NAME:<{width}}  {SUMMARY}",
        f"  {'':<{width}}  estimators: {', '.join(GRADIENTS)} (gradient choices)",
    ]
