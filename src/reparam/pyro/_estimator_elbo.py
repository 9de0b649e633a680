"""The ELBO with reparam's estimators at the guide's non-reparameterizable sites.

``ELBO = E_q[log p(x, z) - log q(z)]``. Reparameterizable guide sites are drawn
with ``rsample`` (the pathwise gradient). At every other site ``b`` (and at any
site named in ``site_estimators``) the rest of the program is a cost of ``b``:

    F(b) = E[log p(x, z) - log q(z) | b],

and the site's term is ``reparam.expectation(F, q(b), estimator, num_samples)``:
leave-one-out REINFORCE (``"score-loo"``), DisARM for Bernoulli sites
(``"disarm"``), RELAX (``"relax"``) or any registered estimator. ``F`` at a
draw of ``b`` is one more run of the guide, with the sites drawn so far fixed
and ``b`` set to the draw, and of the model replayed on it; so the program is
run as written, one draw at a time, and needs no care for extra batch
dimensions. A later estimated site nests inside ``F`` (reparam.expectation's
nesting: unbiased when every estimator is). Cost per step: ``num_samples`` runs
per estimated site (twice that for DisARM, and RELAX's relaxed evaluations),
multiplying across nested sites.

Plates. For the score-function estimators and ARM/DisARM, a site whose batch
dimensions are all plates (a local latent, one per data point) is estimated
per element: element ``n``'s cost is the terms in its slice of those plates
plus the shared terms outside them (which may depend on every element). Each
element's score sees that cost; the shared terms' own gradient is divided
among the elements, so that it counts once; and the value counts them once.
That is unbiased for these estimators (a score times any cost of independent
draws; DisARM's pairs are drawn for all elements at once, its multivariate
form) and removes the other data points' noise from each one's gradient.
Other estimators (RELAX, whose control variate assumes an element's cost
depends on that element only) and sites with batch dimensions that are not
plates treat the whole site as one variable with the whole program as its
cost. Terms that do not depend on ``b`` add no bias; the leave-one-out baseline
removes them exactly.

RELAX evaluates ``F`` at relaxed values of a Bernoulli or categorical site, so
the program runs there with validation off (``pyro.validation_enabled(False)``);
its control variate is registered with ``pyro.module`` (so ``SVI`` steps it) and
trained, in the same ``backward``, to minimise the variance of the site's
gradient (``RELAX.training_term``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import pyro
import torch
from pyro import poutine
from pyro.distributions.torch_distribution import MaskedDistribution
from pyro.infer import ELBO
from pyro.poutine.messenger import Messenger
from pyro.poutine.runtime import NonlocalExit
from pyro.poutine.util import prune_subsample_sites, site_is_subsample
from torch import Tensor
from torch.distributions import Independent

from reparam.estimators import Estimator, expectation, resolve_estimator
from reparam.pyro._plates import PER_ELEMENT, Split, plates_of
from reparam.pyro._sites import latent_sites, parameter_tensors, sample_sites


class EstimatorELBO(ELBO):
    """``-ELBO`` for ``SVI`` with reparam's estimators at non-reparameterizable guide sites.

    Args:
        estimator: the estimator of every non-reparameterizable site without an
            entry in ``site_estimators``: a short name (each site gets its own
            object) or an :class:`reparam.Estimator` (shared by those sites).
        site_estimators: site name -> estimator, for chosen sites (a
            reparameterizable site named here gets it instead of ``rsample``).
        num_samples: the estimator's ``num_samples`` at each site (draws; pairs
            for ARM and DisARM); ``"score-loo"`` needs at least 2.
        num_particles: independent repetitions averaged per step.

    >>> import torch, pyro, pyro.distributions as dist
    >>> from pyro.infer import SVI
    >>> def model():
    ...     b = pyro.sample("b", dist.Bernoulli(torch.tensor(0.5)))
    ...     pyro.sample("x", dist.Normal(b, 1.0), obs=torch.tensor(0.8))
    >>> def guide():
    ...     logit = pyro.param("logit", torch.tensor(0.0))
    ...     pyro.sample("b", dist.Bernoulli(logits=logit))
    >>> elbo = EstimatorELBO("disarm", num_samples=4)
    >>> svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), loss=elbo)
    >>> loss = svi.step()  # -ELBO at the step's draws
    """

    def __init__(
        self,
        estimator: str | Estimator = "score-loo",
        site_estimators: Mapping[str, str | Estimator] | None = None,
        num_samples: int = 2,
        num_particles: int = 1,
    ) -> None:
        super().__init__(num_particles=num_particles)
        resolve_estimator(estimator)  # a wrong name fails here, not at the first step
        self.estimator = estimator
        self.site_estimators = {
            name: resolve_estimator(e) for name, e in (site_estimators or {}).items()
        }
        self.num_samples = num_samples
        self._resolved: dict[str, Estimator] = {}
        self._learned: list[tuple[str, Estimator, list[Tensor]]] = []

    def _get_trace(self, model: Any, guide: Any, args: Any, kwargs: Any) -> Any:
        raise NotImplementedError("EstimatorELBO runs the program itself (_Program)")

    def differentiable_loss(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> Tensor:
        """``-ELBO``'s estimate, whose gradient is the chosen estimators'."""
        self._learned = []
        program = _Program(self, model, guide, args, kwargs)
        runs = [program.run({}) for _ in range(self.num_particles)]
        return -torch.stack(runs).mean()

    def loss(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> float:
        """``-ELBO``'s estimate, as a number."""
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> float:
        """``-ELBO``'s estimate; its gradient (and the control variates') into ``.grad``."""
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        total = loss
        for name, estimator, wrt in self._learned:
            module = estimator.trainable()
            if module is not None and wrt:
                pyro.module(f"control_variate_of_{name}", module)
                total = total + estimator.training_term(loss, wrt)
        if total.requires_grad:
            total.backward(retain_graph=self.retain_graph)
        return float(loss.detach())

    def estimator_for(self, site: str) -> Estimator:
        """The estimator object of ``site`` (kept across steps: baselines, control variates)."""
        if site in self.site_estimators:
            return self.site_estimators[site]
        if isinstance(self.estimator, Estimator):
            return self.estimator
        if site not in self._resolved:
            self._resolved[site] = resolve_estimator(self.estimator)
        return self._resolved[site]

    def needs_estimator(self, msg: Any) -> bool:
        if msg["type"] != "sample" or msg["is_observed"] or site_is_subsample(msg):
            return False
        return msg["name"] in self.site_estimators or not msg["fn"].has_rsample


class _Fix(Messenger):
    """Sample sites named in ``values`` take those values instead of drawing."""

    def __init__(self, values: Mapping[str, Tensor]) -> None:
        super().__init__()
        self.values = values

    def _pyro_sample(self, msg: Any) -> None:
        if msg["name"] in self.values:
            msg["value"] = self.values[msg["name"]]
            msg["done"] = True


class _Program:
    """One step's model and guide, run again for every cost an estimator asks for."""

    def __init__(self, elbo: EstimatorELBO, model: Any, guide: Any, args: Any, kwargs: Any):
        self.elbo, self.model, self.guide = elbo, model, guide
        self.args, self.kwargs = args, kwargs

    def run(self, fixed: Mapping[str, Tensor], split: Split | None = None) -> Tensor:
        """``log p(x, z) - log q(z)`` of one run with the sites in ``fixed`` set.

        A scalar, or with ``split`` one cost per element of the split site.
        """

        def escape(msg: Any) -> bool:
            return msg["name"] not in fixed and self.elbo.needs_estimator(msg)

        tracer = poutine.trace(poutine.escape(_Fix(fixed)(self.guide), escape))
        try:
            tracer(*self.args, **self.kwargs)
        except NonlocalExit as exit:
            exit.reset_stack()
            nested = self._estimate(exit.site, tracer.trace)
            return nested if split is None else split.cost(torch.zeros(()), nested)
        guide_trace = prune_subsample_sites(tracer.trace)
        replayed = poutine.replay(self.model, trace=guide_trace)
        model_trace = poutine.trace(replayed).get_trace(*self.args, **self.kwargs)
        model_trace = prune_subsample_sites(model_trace)
        model_trace.compute_log_prob()
        guide_trace.compute_log_prob()
        terms = [(1.0, s) for s in sample_sites(model_trace)]
        terms += [(-1.0, s) for s in latent_sites(guide_trace)]
        local: Tensor = torch.zeros(())
        shared: Tensor = torch.zeros(())
        for sign, site in terms:
            part = split.local(site) if split is not None else None
            if part is None:
                shared = shared + sign * site["log_prob"].sum()
            else:
                local = local + sign * part
        return shared if split is None else split.cost(local, shared)

    def _estimate(self, site: Any, partial: Any) -> Tensor:
        """The site's estimator applied to the rest of the program as its cost."""
        name = site["name"]
        fn = site["fn"]
        while isinstance(fn, MaskedDistribution):  # the mask weighs log q, not the draws
            fn = fn.base_dist
        drawn = {
            n: s["value"]
            for n, s in partial.nodes.items()
            if s["type"] == "sample" and not site_is_subsample(s)
        }
        estimator = self.elbo.estimator_for(name)
        split = plates_of(site, fn) if isinstance(estimator, PER_ELEMENT) else None
        if split is None:
            q = Independent(fn, len(fn.batch_shape)) if fn.batch_shape else fn
        else:
            q = fn
        relaxed = estimator.trainable() is not None

        def cost(values: Tensor) -> Tensor:  # [S, *site shape] -> [S] or [S, *batch]
            context = pyro.validation_enabled(False) if relaxed else contextlib.nullcontext()
            with context:
                return torch.stack([self.run({**drawn, name: v}, split) for v in values])

        wrt = [t for t in parameter_tensors(q) if t.requires_grad]
        self.elbo._learned.append((name, estimator, wrt))
        value = expectation(cost, q, estimator, self.elbo.num_samples)
        if split is None:
            return value
        # the shared term entered every element's value: count it once
        excess = (split.count - 1) * torch.stack(split.shared).mean()
        return value.sum() - excess
