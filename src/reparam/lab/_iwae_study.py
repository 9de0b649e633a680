"""``iwae_study``: the gradients of the importance-weighted bound against ``k``.

For each gradient choice of :func:`reparam.iwae_bound` and each number of
importance samples ``k``, ``trials`` independent estimates on the
linear-Gaussian model of :mod:`reparam.lab._iwae_model` give, per parameter,
the mean, variance and signal-to-noise ratio ``|mean| / std`` of the gradient
(Rainforth et al., 2018, figure 1; Tucker et al., 2019, figure 1). At ``k = 1``
the exact gradient (of the ELBO) is known and each row's bias is reported.
"""

from __future__ import annotations

import dataclasses
import math
import time
import zlib
from collections.abc import Sequence
from typing import Any, cast

import torch

from reparam.bounds import GRADIENTS, Gradient
from reparam.lab._iwae_model import GENERATIVE, INFERENCE, LinearGaussian
from reparam.lab._memory import check_iwae_memory
from reparam.lab._results import Row, summarise
from reparam.lab._threads import one_thread

DEFAULT_K = (1, 5, 50, 500)
"""The numbers of importance samples ``k`` that :func:`iwae_study` measures unless told."""
DEFAULT_TRIALS = 4000
"""Independent gradient estimates per ``k`` in :func:`iwae_study` unless told."""


@dataclasses.dataclass(frozen=True)
class BoundRow:
    """The mean of ``trials`` estimates of ``L_k``, with its standard error."""

    num_samples: int
    mean: float
    se: float


@dataclasses.dataclass(frozen=True)
class IWAEStudy:
    """Rows per gradient choice x ``k`` x parameter, and the bound per ``k``."""

    summary: str
    seed: int
    log_evidence: float
    parameters: tuple[str, ...]
    rows: tuple[Row, ...]
    bounds: tuple[BoundRow, ...]
    problem: str = "iwae-gaussian"

    def row(self, gradient: str, num_samples: int, parameter: str) -> Row:
        """The row of one gradient choice, ``k`` and parameter."""
        for row in self.rows:
            if (row.estimator, row.num_samples, row.parameter) == (
                gradient,
                num_samples,
                parameter,
            ):
                return row
        raise KeyError((gradient, num_samples, parameter))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "problem": self.problem,
            "summary": self.summary,
            "seed": self.seed,
            "log_evidence": self.log_evidence,
            "parameters": list(self.parameters),
            "inference": list(INFERENCE),
            "generative": list(GENERATIVE),
            "bounds": [dataclasses.asdict(b) for b in self.bounds],
            "rows": [row.to_dict() for row in self.rows],
        }

    def __str__(self) -> str:
        lines = [f"problem {self.problem}: {self.summary} (seed {self.seed})"]
        lines.append(f"log p(x) = {self.log_evidence:.5f}; the bound L_k (± se):")
        lines += [f"  k = {b.num_samples:<6} {b.mean:.5f} ± {b.se:.1e}" for b in self.bounds]
        for k in sorted({row.num_samples for row in self.rows}):
            lines += ["", *_table(k, [row for row in self.rows if row.num_samples == k])]
        lines += [
            "",
            f"inference network: {', '.join(INFERENCE)}; generative model: "
            f"{', '.join(GENERATIVE)}. SNR = |mean| / std. exact: the ELBO's gradient "
            "(k = 1 only); stl is biased for L_k when k > 1.",
        ]
        return "\n".join(lines)


def iwae_study(
    model: LinearGaussian | None = None,
    gradients: Sequence[str] = GRADIENTS,
    *,
    num_samples: Sequence[int] = DEFAULT_K,
    trials: int = DEFAULT_TRIALS,
    seed: int = 0,
) -> IWAEStudy:
    """Measure each gradient choice at each ``k`` with ``trials`` estimates.

    The choices share their draws at each ``k`` (the seed depends on ``k`` only),
    so their generative-model gradients agree estimate by estimate.

    >>> study = iwae_study(num_samples=[1, 50], trials=500)
    >>> study.row("dreg", 50, "a").snr > study.row("standard", 50, "a").snr
    True
    """
    model = LinearGaussian() if model is None else model
    chosen = _checked(gradients, num_samples, trials)
    labels = tuple(model.values())
    exact = torch.stack(list(model.elbo_gradient().values()))
    rows: list[Row] = []
    bounds: dict[int, BoundRow] = {}
    with torch.random.fork_rng(devices=[]), one_thread():
        for k in sorted(set(num_samples)):
            for gradient in chosen:
                torch.manual_seed(zlib.crc32(f"{seed}/iwae/{k}".encode()))
                start = time.perf_counter()
                values, estimates = model.estimates(gradient, k, trials)
                seconds = (time.perf_counter() - start) / trials
                se = float(values.std()) / math.sqrt(trials)
                bounds.setdefault(k, BoundRow(k, float(values.mean()), se))
                unbiased = gradient != "stl" or k == 1
                exact_k = exact if k == 1 else None
                rows += summarise(
                    gradient, unbiased, k, list(labels), estimates, seconds, exact_k, None
                )
    return IWAEStudy(
        model.summary, seed, model.log_evidence(), labels, tuple(rows), tuple(bounds.values())
    )


def _checked(gradients: Sequence[str], num_samples: Sequence[int], trials: int) -> list[Gradient]:
    if isinstance(gradients, str):
        gradients = [gradients]
    unknown = [g for g in gradients if g not in GRADIENTS]
    if unknown or not gradients:
        raise ValueError(
            f"gradient choices must be among {', '.join(GRADIENTS)}, got {list(gradients)}"
        )
    if not num_samples or any(
        isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in num_samples
    ):
        raise ValueError(
            f"numbers of importance samples k must be integers >= 1, got {num_samples}"
        )
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 2:
        raise ValueError(f"trials must be an integer >= 2 (a variance needs two), got {trials!r}")
    check_iwae_memory(max(num_samples), trials)
    return [cast(Gradient, g) for g in dict.fromkeys(gradients)]


def snr_se(row: Row) -> float:
    """One standard error of a measured SNR: ``sqrt((1 + SNR^2 / 2) / n)``.

    The delta method for ``n`` normal estimates; a SNR below about twice this is
    not resolved by the trials (its mean is lost in the noise).
    """
    return math.sqrt((1 + row.snr**2 / 2) / row.trials)


_COLUMNS = ("gradient", "parameter", "mean", "exact", "bias ± se", "variance", "SNR ± se")


def _table(k: int, rows: list[Row]) -> list[str]:
    title = f"k = {k} importance sample{'s' if k > 1 else ''}, {rows[0].trials} trials"
    cells = [
        (
            r.estimator,
            r.parameter,
            f"{r.mean:+.3e}",
            "-" if r.exact is None else f"{r.exact:+.3e}",
            "n/a" if r.bias is None else f"{r.bias:+.1e} ± {r.bias_se:.1e}",
            f"{r.variance:.3e}",
            f"{r.snr:.3g} ± {snr_se(r):.1g}",
        )
        for r in rows
    ]
    widths = [max(len(t) for t in col) for col in zip(_COLUMNS, *cells, strict=False)]

    def line(texts: tuple[str, ...]) -> str:
        left = [t.ljust(w) for t, w in zip(texts[:2], widths[:2], strict=False)]
        right = [t.rjust(w) for t, w in zip(texts[2:], widths[2:], strict=False)]
        return "  ".join(left + right)

    header = line(_COLUMNS)
    return [title, header, "-" * len(header), *(line(c) for c in cells)]
