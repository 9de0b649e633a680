"""The importance-weighted bound as a Pyro ELBO, with the standard, STL or DReG gradient.

For ``K = num_particles`` independent runs of the guide, each replayed through
the model, with log-weights ``log w_i = log p(x, z_i) - log q(z_i)`` summed over
every site of run ``i``, the objective is

    L_K = E[log (1/K) sum_i w_i] <= log p(x)

(Burda, Grosse and Salakhutdinov, 2016). This is the bound of
:func:`reparam.iwae_bound` with the guide as ``q`` and the model as
``log_joint``, and its three gradients are that function's, computed the same
way: ``"standard"`` differentiates the bound; ``"stl"`` evaluates ``log q`` with
the guide's parameters stopped (:func:`reparam.detach_parameters`), the
sticking-the-landing gradient (Roeder et al., 2017), unbiased for ``L_1`` only;
``"dreg"`` also scales the gradient reaching each latent value ``z_i`` by its
normalised weight ``v_i``, the doubly reparameterized gradient of Tucker et al.
(2019), unbiased for ``grad L_K``. The model's parameters get the standard
gradient in all three cases.

One bound per data point, as in Pyro's ``RenyiELBO``: the weights are kept
per element of the plates that every site shares (a data plate in a model
whose latents are all local), and summed over the other plates; the objective
is the sum of the elements' bounds. A model with a global latent therefore
gets one bound for the whole batch.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pyro.infer import ELBO
from pyro.infer.enum import get_importance_trace
from pyro.infer.util import get_dependent_plate_dims
from torch import Tensor

from reparam.bounds._iwae import GRADIENTS, Gradient, _checked_count, _square_weights_on_path
from reparam.pyro._sites import (
    Site,
    depends_on,
    detached_log_prob,
    latent_sites,
    parameter_tensors,
    sample_sites,
)


class ImportanceWeightedELBO(ELBO):
    """``-L_K`` for ``SVI``: the ``num_particles``-sample importance-weighted bound.

    Args:
        num_particles: ``K >= 1`` runs of the guide per step; ``K = 1`` is the ELBO.
        gradient: ``"standard"``, ``"stl"`` or ``"dreg"`` (see the module docstring).
        max_plate_nesting: as Pyro's ``ELBO``; guessed by running the model and
            guide once when not given.
        vectorize_particles: run the ``K`` particles as one vectorized program (a
            plate left of the model's own), as Pyro's ``ELBO`` does; every batch
            dimension of every site must then be declared with ``pyro.plate``.

    Every latent site of the guide must be reparameterizable (``has_rsample``);
    for ``"stl"`` and ``"dreg"`` a site's distribution must not be computed from
    an earlier site's value (stopping its parameters would cut that path too).

    >>> import torch, pyro, pyro.distributions as dist
    >>> from pyro.infer import SVI
    >>> def model(x):
    ...     z = pyro.sample("z", dist.Normal(0.0, 1.0))
    ...     pyro.sample("x", dist.Normal(z, 1.0), obs=x)
    >>> def guide(x):
    ...     loc = pyro.param("loc", torch.tensor(0.0))
    ...     pyro.sample("z", dist.Normal(loc, 1.0))
    >>> elbo = ImportanceWeightedELBO(num_particles=10, gradient="dreg")
    >>> svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), loss=elbo)
    >>> loss = svi.step(torch.tensor(1.0))  # -L_10 at the step's draws
    """

    def __init__(
        self,
        num_particles: int = 2,
        gradient: Gradient = "dreg",
        max_plate_nesting: float = float("inf"),
        vectorize_particles: bool = True,
    ) -> None:
        if gradient not in GRADIENTS:
            raise ValueError(
                f"gradient must be one of {', '.join(map(repr, GRADIENTS))}, got {gradient!r}"
            )
        super().__init__(
            num_particles=_checked_count(num_particles),
            max_plate_nesting=max_plate_nesting,
            vectorize_particles=vectorize_particles,
        )
        self.gradient = gradient

    def _get_trace(self, model: Any, guide: Any, args: Any, kwargs: Any) -> Any:
        return get_importance_trace("flat", self.max_plate_nesting, model, guide, args, kwargs)

    def differentiable_loss(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> Tensor:
        """``-L_K``'s one-draw estimate, whose gradient is the chosen estimator's."""
        return -self.bound(model, guide, *args, **kwargs)

    def loss(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> float:
        """``-L_K``'s one-draw estimate, as a number."""
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> float:
        """``-L_K``'s estimate; its gradient accumulated into the parameters' ``.grad``."""
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        if loss.requires_grad:
            loss.backward(retain_graph=self.retain_graph)
        return float(loss.detach())

    def bound(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> Tensor:
        """``sum_n log (1/K) sum_i w_in`` at one draw of the ``K`` particles (a scalar).

        ``n`` runs over the elements of the plates that every site shares (one
        bound per data point); other plates are summed into the weights.
        """
        vectorized = self.vectorize_particles and self.num_particles > 1
        runs: list[tuple[Tensor, list[Site]]] = []
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            latents = self._checked_latents(guide_trace)
            summed = get_dependent_plate_dims(list(model_trace.nodes.values()))
            log_p = [
                self._reduce(s["log_prob"], summed, vectorized) for s in sample_sites(model_trace)
            ]
            log_q = [self._reduce(self._log_q(s), summed, vectorized) for s in latents]
            runs.append((sum(log_p, torch.zeros(())) - sum(log_q, torch.zeros(())), latents))
        log_w = runs[0][0] if vectorized else torch.stack([log_w for log_w, _ in runs])
        if self.gradient == "dreg":
            _square_weights_of_runs(log_w, runs, vectorized)
        return (torch.logsumexp(log_w, dim=0) - math.log(self.num_particles)).sum()

    def _log_q(self, site: Site) -> Tensor:
        return site["log_prob"] if self.gradient == "standard" else detached_log_prob(site)

    def _reduce(self, log_prob: Tensor, summed: list[int], vectorized: bool) -> Tensor:
        """A site's log-density summed over the plates not every site shares (kept as size 1)."""
        if vectorized and (
            log_prob.dim() != self.max_plate_nesting or log_prob.shape[0] != self.num_particles
        ):
            raise ValueError(
                f"a site's log-density has shape {list(log_prob.shape)}, not [num_particles="
                f"{self.num_particles}, ...] over max_plate_nesting={self.max_plate_nesting} "
                "dimensions: declare every batch dimension with pyro.plate (or .to_event), "
                "or pass vectorize_particles=False"
            )
        dims = [d for d in summed if -log_prob.dim() <= d]
        return log_prob.sum(dims, keepdim=True) if dims else log_prob

    def _checked_latents(self, guide_trace: Any) -> list[Site]:
        latents = latent_sites(guide_trace)
        for site in latents:
            if not site["fn"].has_rsample:
                raise ValueError(
                    f"ImportanceWeightedELBO needs reparameterizable guide sites, and site "
                    f"'{site['name']}' ({type(site['fn']).__name__}) has no rsample; use "
                    "reparam.pyro.EstimatorELBO for non-reparameterizable sites"
                )
        if self.gradient != "standard":
            _check_independent_parameters(latents, self.gradient)
        return latents


def _square_weights_of_runs(
    log_w: Tensor, runs: list[tuple[Tensor, list[Site]]], vectorized: bool
) -> None:
    """DReG: the gradient reaching each latent value scaled by its particle's weight."""
    if vectorized:  # log_w: [K, *plates], aligned with every site's batch dimensions
        for site in runs[0][1]:
            if site["value"].requires_grad:
                _square_weights_on_path(site["value"], log_w, site["fn"].event_dim)
        return
    weights = torch.softmax(log_w.detach(), dim=0)  # [K, *plates]
    for weight, (_, latents) in zip(weights, runs, strict=True):
        for site in latents:
            z, event_dim = site["value"], site["fn"].event_dim
            if z.requires_grad:
                batch_dims = z.dim() - event_dim  # the plates z is not in are summed: size 1
                own = weight.reshape(
                    weight.shape[weight.dim() - batch_dims :] if batch_dims else ()
                )
                scale = own.reshape(own.shape + (1,) * event_dim)
                z.register_hook(lambda grad, scale=scale: grad * scale)


def _check_independent_parameters(latents: list[Site], gradient: str) -> None:
    for i, site in enumerate(latents[1:], start=1):
        earlier = [s["value"] for s in latents[:i] if s["value"].requires_grad]
        if any(depends_on(t, earlier) for t in parameter_tensors(site["fn"])):
            raise ValueError(
                f"site '{site['name']}' has a distribution computed from an earlier site's "
                f"value; gradient={gradient!r} stops the guide's parameters in log q, which "
                "would also cut that path. Use gradient='standard', or a guide whose "
                "distributions depend on the data and parameters only"
            )
