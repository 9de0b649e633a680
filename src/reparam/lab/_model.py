"""``compare_model``: estimators compared on a user's own model and batch.

The question a practitioner has is about the weights of their model (the
encoder's), on their data, not about a distribution's parameters. Here the
loss is theirs: ``loss_fn(module, batch, estimator)`` builds the model's loss
with ``reparam.expectation`` (or ``reparam.iwae_bound``) using the estimator it
is given. At fixed weights, each estimator gives ``R`` replicate gradients of
that loss with respect to every parameter of ``module`` that requires grad;
their spread is the estimator's variance on this model and batch (the
variance of the *whole* stochastic gradient, the batch fixed). No exact
variance exists here: the figures are replicate-based, with bootstrap intervals
(see :mod:`reparam.lab._model_stats`).

Estimators with a learned part (RELAX's control variate, anything whose
``trainable()`` is not ``None``) are measured twice: as given, and after
``train_steps`` steps of Adam on that part alone, each step the estimator's own
``training_term`` (the gradient of the summed squared gradient estimate) on
this model and batch, the weights fixed. The estimator passed in is not
changed: a copy is trained.
"""

from __future__ import annotations

import copy
import dataclasses
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from reparam.estimators import Estimator, EstimatorName, resolve_estimator
from reparam.lab._counts import sample_counts
from reparam.lab._model_results import ModelComparison, ModelRun

ModelLoss = Callable[..., Tensor]
"""``loss_fn(module, batch, estimator)`` (or ``..., num_samples=S)``) -> a scalar loss."""

DEFAULT_REPLICATES = 100
DEFAULT_TRAIN_STEPS = 200


def compare_model(
    loss_fn: ModelLoss,
    module: nn.Module,
    batch: Any,
    estimators: Sequence[EstimatorName | Estimator],
    *,
    num_samples: int | Sequence[int] | None = None,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    train_steps: int = DEFAULT_TRAIN_STEPS,
    learning_rate: float = 1e-2,
    level: float = 0.95,
    resamples: int = 1000,
) -> ModelComparison:
    """Measure each estimator's gradient of ``loss_fn`` on ``module`` and ``batch``.

    Args:
        loss_fn: ``loss_fn(module, batch, estimator)`` returns a scalar loss built
            with ``reparam.expectation(..., estimator, ...)`` or ``iwae_bound``;
            with ``num_samples`` given it is called as ``loss_fn(module, batch,
            estimator, num_samples=S)`` for each ``S``.
        module: the model; gradients are taken with respect to its parameters
            that require grad, at their current values (never changed).
        batch: passed to ``loss_fn`` as it is.
        estimators: short names or :class:`~reparam.Estimator` objects.
        num_samples: ``None`` (``loss_fn`` chooses), or one or more sample counts.
        replicates: gradients per estimator (and ``S``), ``R >= 2``.
        seed: fixes every draw; the global random state is left as it was.
        train_steps: steps of training for an estimator's learned part before
            the second measurement (0: measure it untrained only).
        learning_rate: Adam's step size for that training.
        level: the bootstrap intervals' coverage.
        resamples: bootstrap resamples.

    Returns:
        A :class:`ModelComparison`: ``print(result)`` for the table per parameter
        tensor, ``result.table(by="module" | "all" | "scalar")`` for others,
        ``result.recommendation``, ``result.to_dict()``.

    >>> import torch, reparam
    >>> from torch.distributions import Normal
    >>> layer = torch.nn.Linear(2, 1)
    >>> def loss_fn(module, x, estimator):
    ...     q = Normal(module(x).squeeze(-1), 1.0)
    ...     return reparam.expectation(lambda z: z**2, q, estimator, 4).sum()
    >>> result = reparam.lab.compare_model(
    ...     loss_fn, layer, torch.ones(3, 2), ["pathwise", "score"], replicates=50)
    >>> result.recommendation.estimator
    'pathwise'
    """
    counts = _sample_counts(num_samples)
    _check_count("replicates", replicates, 2)
    _check_count("train_steps", train_steps, 0)
    _check_count("resamples", resamples, 2)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    chosen = _estimators(estimators)
    bench = _Bench(loss_fn, module, batch, _parameters(module, chosen), replicates)
    runs: list[ModelRun] = []
    notes: list[str] = []
    with torch.random.fork_rng(devices=bench.cuda_devices()):
        for label, estimator in chosen:
            for s in counts:
                if s is not None and s < estimator.min_samples:
                    notes.append(
                        f"{label} needs num_samples >= {estimator.min_samples}; {s} skipped"
                    )
                    continue
                key = f"{seed}/{label}/{s}"
                learns = estimator.trainable() is not None
                runs.append(bench.run(estimator, label, s, key, 0 if learns else None))
                if learns and train_steps > 0:
                    trained = copy.deepcopy(estimator)
                    bench.train(trained, s, train_steps, learning_rate, key)
                    runs.append(bench.run(trained, label, s, key, train_steps))
    if not runs:
        raise ValueError(f"nothing to measure: {'; '.join(notes)}")
    unreached = [n for i, n in enumerate(bench.named) if not _reached(runs, bench.named, i)]
    if unreached:
        notes.append(
            f"no estimator's gradient reached {', '.join(unreached)} (None or zero in every "
            "replicate); if these influence the loss, reparam.check_gradients says where "
            "the gradient is cut"
        )
    return ModelComparison(
        parameters=tuple(bench.named),
        shapes=tuple(tuple(p.shape) for p in bench.named.values()),
        runs=tuple(runs),
        seed=seed,
        level=level,
        resamples=resamples,
        notes=tuple(notes),
    )


def _parameters(module: nn.Module, chosen: list[tuple[str, Estimator]]) -> dict[str, Tensor]:
    """The module's parameters that require grad, less the estimators' own learned parts."""
    own = {
        id(p) for _, e in chosen for m in [e.trainable()] if m is not None for p in m.parameters()
    }
    named: dict[str, Tensor] = {
        n: p for n, p in module.named_parameters() if p.requires_grad and id(p) not in own
    }
    if not named:
        raise ValueError("module has no parameter that requires grad: nothing to measure")
    return named


@dataclasses.dataclass(frozen=True)
class _Bench:
    """The user's loss on their module and batch, and the parameters measured."""

    loss_fn: ModelLoss
    module: nn.Module
    batch: Any
    named: dict[str, Tensor]
    replicates: int

    def cuda_devices(self) -> list[int]:
        return sorted({p.device.index or 0 for p in self.named.values() if p.is_cuda})

    def loss(self, estimator: Estimator, s: int | None) -> Tensor:
        if s is None:
            loss = self.loss_fn(self.module, self.batch, estimator)
        else:
            loss = self.loss_fn(self.module, self.batch, estimator, num_samples=s)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            got = list(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(
                f"loss_fn must return a scalar loss, got {got}; reduce it (.sum() or .mean())"
            )
        return loss.reshape(())

    def gradient(self, estimator: Estimator, s: int | None) -> Tensor:
        """One gradient, flattened over the parameters (zeros where none reached)."""
        params = list(self.named.values())
        with torch.enable_grad():
            loss = self.loss(estimator, s)
            grads = (
                torch.autograd.grad(loss, params, allow_unused=True)
                if loss.requires_grad
                else [None] * len(params)
            )
        flat = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]
        return torch.cat([g.reshape(-1) for g in flat]).detach()

    def run(
        self, estimator: Estimator, label: str, s: int | None, key: str, steps: int | None
    ) -> ModelRun:
        """``replicates`` gradients ``[R, P]`` (float64) and the seconds of the fastest one.

        The fastest, as ``timeit`` advises: other work on the machine only ever
        adds time, so the minimum is the least disturbed figure.
        """
        self.gradient(estimator, s)  # warm-up: first calls are slow
        torch.manual_seed(zlib.crc32(f"{key}/measure".encode()))
        rows, seconds = [], []
        for _ in range(self.replicates):
            self._synchronize()
            start = time.perf_counter()
            g = self.gradient(estimator, s)
            self._synchronize()
            seconds.append(time.perf_counter() - start)
            rows.append(g.to("cpu", torch.float64))
        return ModelRun(label, estimator.unbiased, s, steps, min(seconds), torch.stack(rows))

    def train(
        self, estimator: Estimator, s: int | None, steps: int, learning_rate: float, key: str
    ) -> None:
        """Adam on the estimator's learned part, by its ``training_term``; the weights stay."""
        part = estimator.trainable()
        own = [] if part is None else [p for p in part.parameters() if p.requires_grad]
        if not own:
            return
        optimizer = torch.optim.Adam(own, lr=learning_rate)
        torch.manual_seed(zlib.crc32(f"{key}/train".encode()))
        params = list(self.named.values())
        for _ in range(steps):
            with torch.enable_grad():
                loss = self.loss(estimator, s)
                total = loss + estimator.training_term(loss, params)
                optimizer.zero_grad()
                total.backward(inputs=own)
            optimizer.step()

    def _synchronize(self) -> None:
        for index in self.cuda_devices():
            torch.cuda.synchronize(index)


def _reached(runs: list[ModelRun], named: dict[str, Tensor], index: int) -> bool:
    start = sum(p.numel() for p in list(named.values())[:index])
    stop = start + list(named.values())[index].numel()
    return any(bool(run.gradients[:, start:stop].ne(0).any()) for run in runs)


def _estimators(estimators: Sequence[EstimatorName | Estimator]) -> list[tuple[str, Estimator]]:
    if isinstance(estimators, (str, Estimator)):
        estimators = [estimators]  # type: ignore[list-item]
    chosen: list[tuple[str, Estimator]] = []
    for item in estimators:
        resolved = resolve_estimator(item)
        label = item if isinstance(item, str) else resolved.name
        if any(label == other for other, _ in chosen):
            if isinstance(item, str):
                raise ValueError(f"estimator {item!r} is listed twice")
            label = repr(resolved)  # a second object of one class: its settings tell it apart
        chosen.append((label, resolved))
    if not chosen:
        raise ValueError("no estimators to compare")
    return chosen


def _sample_counts(num_samples: int | Sequence[int] | None) -> list[int | None]:
    if num_samples is None:
        return [None]
    return list(sample_counts(num_samples))


def _check_count(name: str, value: object, lowest: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise ValueError(f"{name} must be an integer >= {lowest}, got {value!r}")
