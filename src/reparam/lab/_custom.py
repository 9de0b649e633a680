"""A :class:`Problem` from a user's cost and distribution object, of any class.

The lab needs independent per-trial copies of the distribution's parameters.
It never rebuilds the distribution from its class or constructor: it asks the
distribution itself for a batch of trials, ``dist.expand([trials, *batch_shape])``,
the method every ``torch.distributions`` class (and every reparam one) has for
making a larger batch of copies. While ``expand`` runs, each ``Tensor.expand``
of one of the distribution's parameters is answered with a per-trial leaf of
the expanded shape instead of a view of the shared value (PyTorch's own
mechanism for intercepting calls, a :class:`~torch.overrides.TorchFunctionMode`,
active for that call only). Whatever the class computes from its parameters
inside ``expand`` (reparam's distributions construct a new object) is then
computed from the leaves, and nested distributions (``Independent``'s base,
a mixture's parts) are expanded, and substituted, the same way.

The parameters are the floating-point tensors a distribution (or one nested in
it) stores under a name in its ``arg_constraints`` whose constraint is not
discrete; of ``probs`` and ``logits``, only the one it was given (its
``_param``), the other being a cache recomputed from it. A parameter is named
by its attribute path, leading underscores dropped: ``loc``, ``base_dist.logits``,
``dirichlet.concentration`` (a ``Beta``).

A class whose ``expand`` shares a parameter's state between the copies instead
of expanding it (torch's ``MultivariateNormal`` keeps its unbroadcast Cholesky
factor) would give trials that are not independent: a probe with two trials
finds a parameter copy that the expanded distribution's ``log_prob`` does not
use, or trials that share one. Such a class is rebuilt instead, by the rule
that :func:`reparam.detach_parameters` has for it (each ``.detach()`` of a
parameter answered with its per-trial leaf), and probed again; if that fails
too, the lab refuses with a message that says why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution
from torch.distributions.utils import lazy_property
from torch.overrides import TorchFunctionMode

from reparam.distributions import detach_parameters
from reparam.estimators import Cost
from reparam.lab._problem import Params, Problem

_EXPANDS: frozenset[Callable[..., Any]] = frozenset(
    [Tensor.expand, Tensor.expand_as, Tensor.broadcast_to, torch.broadcast_to]
)


def custom_problem(
    f: Cost, dist: Distribution, exact_gradient: Mapping[str, Tensor | float] | None = None
) -> Problem:
    """The problem of estimating ``grad E_{z ~ dist}[f(z)]`` w.r.t. ``dist``'s parameters.

    >>> from torch.distributions import Bernoulli, Independent, Normal
    >>> custom_problem(lambda z: z**2, Normal(torch.tensor(1.0), 2.0)).labels()
    ['loc', 'scale']
    >>> posterior = Independent(Bernoulli(logits=torch.zeros(2)), 1)
    >>> custom_problem(lambda z: z.sum(-1), posterior).labels()
    ['base_dist.logits[0]', 'base_dist.logits[1]']
    """
    if not isinstance(dist, Distribution):
        raise TypeError(
            f"dist must be a torch.distributions.Distribution, got {type(dist).__name__}"
        )
    sources = dict(_parameters(dist))
    if not sources:
        raise ValueError(_cannot(dist, "no floating-point parameters were found"))
    values = {name: tensor.detach() for name, tensor in sources.items()}
    by_id = {id(tensor): name for name, tensor in sources.items()}
    build = _first_that_works(f, dist, by_id, values)
    gradient = None
    if exact_gradient is not None:
        unknown = set(exact_gradient) - set(values)
        if unknown:
            raise ValueError(
                f"exact_gradient names {sorted(unknown)}, but {type(dist).__name__}'s "
                f"parameters are {list(values)}"
            )
        gradient = {n: torch.as_tensor(exact_gradient[n], dtype=torch.float64) for n in values}
    return Problem(
        name="custom",
        summary=f"z ~ {type(dist).__name__}({', '.join(values)}), "
        f"f = {getattr(f, '__name__', 'f')}",
        values=values,
        build=build,
        exact_gradient=gradient,
    )


Copy = Callable[[Distribution, Mapping[int, str], Params], Distribution]


def _first_that_works(
    f: Cost, dist: Distribution, by_id: Mapping[int, str], values: Params
) -> Callable[[Params], tuple[Cost, Distribution]]:
    """The build by ``expand``, else by ``detach_parameters``'s rule, whichever passes the probe."""
    reasons = []
    for how, copy in (("expand()", expand_with), ("detach_parameters", rebuild_with)):

        def build(p: Params, copy: Copy = copy) -> tuple[Cost, Distribution]:
            return f, copy(dist, by_id, p)

        try:
            _probe(values, build)
        except ValueError as error:
            reasons.append(f"by {how}: {error}")
            continue
        return build
    raise ValueError(_cannot(dist, "; ".join(reasons)))


def expand_with(dist: Distribution, sources: Mapping[int, str], leaves: Params) -> Distribution:
    """``dist.expand([trials, *batch_shape])`` with the parameters replaced by ``leaves``.

    ``sources`` maps ``id`` of each parameter tensor of ``dist`` to its name in
    ``leaves`` (``[trials, *shape]`` each).
    """
    trials = next(iter(leaves.values())).shape[0]
    mode = _Substitute(sources, leaves, _EXPANDS, same_shape=True)
    with mode:
        expanded = dist.expand(torch.Size([trials, *dist.batch_shape]))
    mode.check_all_used("expand() does not expand")
    _drop_caches(expanded, dist)
    return expanded


def rebuild_with(dist: Distribution, sources: Mapping[int, str], leaves: Params) -> Distribution:
    """``detach_parameters(dist)`` with each parameter's ``.detach()`` answered by its leaf."""
    mode = _Substitute(sources, leaves, _DETACHES, same_shape=False)
    try:
        with mode:
            rebuilt = detach_parameters(dist)
    except TypeError as error:
        raise ValueError(str(error)) from None
    mode.check_all_used("detach_parameters() does not detach")
    return rebuilt


_DETACHES: frozenset[Callable[..., Any]] = frozenset([Tensor.detach])


class _Substitute(TorchFunctionMode):
    """Answers ``funcs`` (expand, or detach) of a known parameter with its per-trial leaf."""

    def __init__(
        self,
        sources: Mapping[int, str],
        leaves: Params,
        funcs: frozenset[Callable[..., Any]],
        *,
        same_shape: bool,
    ) -> None:
        super().__init__()
        self.sources = sources
        self.leaves = leaves
        self.funcs = funcs
        self.same_shape = same_shape
        self.used: set[str] = set()

    def check_all_used(self, what: str) -> None:
        missing = [name for name in self.leaves if name not in self.used]
        if missing:
            raise ValueError(f"its {what} {', '.join(missing)}")

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        if func in self.funcs and args and isinstance(args[0], Tensor):
            name = self.sources.get(id(args[0]))
            if name is not None and (not self.same_shape or self.leaves[name].shape == out.shape):
                self.used.add(name)
                return self.leaves[name]
        return out


def _parameters(dist: Distribution, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
    """``(path, tensor)`` of every parameter of ``dist`` and the distributions inside it."""
    constraints = _arg_constraints(dist)
    given = getattr(dist, "_param", None)
    for name, value in vars(dist).items():
        if isinstance(value, Distribution):
            yield from _parameters(value, f"{prefix}{name.lstrip('_')}.")
            continue
        if not (isinstance(value, Tensor) and value.is_floating_point()):
            continue
        constraint = constraints.get(name)
        if constraint is None or getattr(constraint, "is_discrete", False):
            continue
        if given is not None and value is not given and _is_cache(dist, name):
            continue  # e.g. probs computed from the logits it was given
        yield f"{prefix}{name.lstrip('_')}", value


def _arg_constraints(dist: Distribution) -> dict[str, Any]:
    try:
        return dict(dist.arg_constraints)
    except NotImplementedError:
        return {}


def _is_cache(dist: Distribution, name: str) -> bool:
    return isinstance(getattr(type(dist), name, None), lazy_property)


def _drop_caches(expanded: Distribution, original: Distribution) -> None:
    """Forget cached alternative parameterizations, recomputed from the leaves when read."""
    given = getattr(original, "_param", None)
    for name, value in list(vars(expanded).items()):
        if isinstance(value, Distribution):
            inner = getattr(original, name, None)
            if isinstance(inner, Distribution):
                _drop_caches(value, inner)
        elif given is not None and _is_cache(expanded, name):
            if vars(original).get(name) is given:
                expanded._param = value  # type: ignore[attr-defined]
            else:
                del vars(expanded)[name]


def _probe(values: Params, build: Callable[[Params], Any]) -> None:
    """Two trials: every parameter copy must be used, and the trials must not mix."""
    leaves = {n: v.expand(2, *v.shape).clone().requires_grad_(True) for n, v in values.items()}
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            _, expanded = build(leaves)
            with torch.no_grad():
                x = expanded.sample()
            log_prob = expanded.log_prob(x)
            first = log_prob.reshape(2, -1)[0].sum()
            grads = torch.autograd.grad(first, list(leaves.values()), allow_unused=True)
    except ValueError:
        raise
    except (TypeError, RuntimeError, NotImplementedError) as error:
        raise ValueError(f"{type(error).__name__}: {error}") from None
    for name, grad in zip(leaves, grads, strict=True):
        if grad is None:
            raise ValueError(f"the copy does not use the per-trial copy of {name}")
        if bool(grad[1].ne(0).any()):
            raise ValueError(f"the copy's trials share {name}")


def _cannot(dist: Distribution, reason: str) -> str:
    return (
        f"the lab could not make independent trials of {type(dist).__name__} ({reason}); "
        "describe the problem as a reparam.lab.Problem instead"
    )
