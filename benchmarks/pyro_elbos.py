"""reparam's Pyro ELBOs against Pyro's own objectives, and the same models in plain PyTorch.

Two small models, each written once in Pyro (model and guide, ``pyro.module`` for
the networks), on one fixed synthetic batch:

* **VAE**: binary ``x`` (``--batch`` x 20), ``z ~ N(0, I_4)``, MLP decoder
  (Bernoulli pixels) and encoder (Gaussian ``q(z | x)``). Objectives: Pyro's
  ``Trace_ELBO`` and ``RenyiELBO(alpha=0)`` (its importance-weighted bound), and
  ``reparam.pyro.ImportanceWeightedELBO`` with the standard, STL and DReG
  gradients, all at ``K = --k`` particles (``Trace_ELBO`` at one).
* **Bernoulli latents**: ``z ~ Bernoulli(1/2)^8`` per data point, linear decoder
  and encoder logits. Objectives: Pyro's ``Trace_ELBO`` and ``TraceGraph_ELBO``
  (decaying-average baseline), at 2 particles, against
  ``reparam.pyro.EstimatorELBO`` with leave-one-out REINFORCE (2 samples),
  DisARM (1 antithetic pair) and RELAX (1 sample, untrained control variate).

For each objective: the variance of the gradient of the encoder's last layer
(mean over its entries) over ``--replicates`` draws at fixed parameters, and the
CPU seconds per ``loss_and_grads`` call (``SVI``'s step without the optimizer;
interleaved medians, :mod:`_common`). For reference, the same computation in
plain PyTorch with reparam: ``reparam.iwae_bound`` with one bound per data point
(the objective of Pyro's ``RenyiELBO`` and of ``ImportanceWeightedELBO`` here)
and ``reparam.expectation`` with each data point its own variable and cost (as
``EstimatorELBO`` does for a site in a data plate) or the batch as one variable.

The file is not named ``pyro.py``: run as a script, that name would shadow the
``pyro`` package it imports.

Usage: ``python benchmarks/pyro_elbos.py [--replicates N] [--repeats N] [--k K]``;
prints one JSON object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyro
import pyro.distributions as pdist
import torch
from pyro.infer import RenyiELBO, Trace_ELBO, TraceGraph_ELBO
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent, Normal

import reparam
from reparam.pyro import EstimatorELBO, ImportanceWeightedELBO

from _common import interleaved_medians, print_report, start, timing_parser

X_DIM, Z_DIM, BITS, HIDDEN = 20, 4, 8, 32


def binary_batch(n: int) -> Tensor:
    generator = torch.Generator().manual_seed(1)
    prototypes = (torch.rand(4, X_DIM, generator=generator) < 0.5).float()
    which = torch.randint(0, 4, (n,), generator=generator)
    flips = (torch.rand(n, X_DIM, generator=generator) < 0.1).float()
    return (prototypes[which] + flips) % 2


class VAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(X_DIM, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, 2 * Z_DIM)
        )
        self.decoder = nn.Sequential(nn.Linear(Z_DIM, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, X_DIM))

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        loc, log_scale = self.encoder(x).chunk(2, dim=-1)
        return loc, log_scale.exp()

    def model(self, x: Tensor) -> None:
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", pdist.Normal(0.0, 1.0).expand([Z_DIM]).to_event(1))
            pyro.sample("x", pdist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x)

    def guide(self, x: Tensor) -> None:
        pyro.module("encoder", self.encoder)
        loc, scale = self.posterior(x)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", pdist.Normal(loc, scale).to_event(1))

    def log_joint(self, x: Tensor) -> Callable[[Tensor], Tensor]:
        def log_joint(z: Tensor) -> Tensor:  # [k, batch, Z] -> [k, batch]: one bound per point
            prior = Normal(0.0, 1.0).log_prob(z).sum(-1)
            likelihood = Bernoulli(logits=self.decoder(z)).log_prob(x).sum(-1)
            return prior + likelihood

        return log_joint

    def plain_loss(self, x: Tensor, k: int, gradient: reparam.bounds.Gradient) -> Tensor:
        loc, scale = self.posterior(x)
        q = Independent(Normal(loc, scale), 1)
        return -reparam.iwae_bound(self.log_joint(x), q, k, gradient).sum()


class BernoulliModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(X_DIM, BITS)
        self.decoder = nn.Linear(BITS, X_DIM)
        self.infer: dict[str, Any] = {}

    def model(self, x: Tensor) -> None:
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            prior = pdist.Bernoulli(torch.full((BITS,), 0.5)).to_event(1)
            z = pyro.sample("z", prior)
            pyro.sample("x", pdist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x)

    def guide(self, x: Tensor) -> None:
        pyro.module("encoder", self.encoder)
        with pyro.plate("data", x.shape[0]):
            q = pdist.Bernoulli(logits=self.encoder(x)).to_event(1)
            pyro.sample("z", q, infer=self.infer)

    def elbo_terms(self, x: Tensor) -> Callable[[Tensor], Tensor]:
        def terms(z: Tensor) -> Tensor:  # [S, batch, BITS] -> [S, batch]
            prior = Bernoulli(probs=torch.full_like(z, 0.5)).log_prob(z).sum(-1)
            likelihood = Bernoulli(logits=self.decoder(z)).log_prob(x).sum(-1)
            q = Bernoulli(logits=self.encoder(x)).log_prob(z).sum(-1)
            return prior + likelihood - q

        return terms

    def plain_loss(self, x: Tensor, estimator: str, samples: int, per_point: bool) -> Tensor:
        q_bits = Bernoulli(logits=self.encoder(x))
        terms = self.elbo_terms(x)
        if per_point:  # each data point its own variable and cost
            return -reparam.expectation(terms, Independent(q_bits, 1), estimator, samples).sum()
        whole = Independent(q_bits, 2)  # the batch as one variable, the total as its cost
        return -reparam.expectation(lambda z: terms(z).sum(-1), whole, estimator, samples)


def measure(step: Callable[[], object], weight: Tensor, replicates: int) -> float:
    """Mean over ``weight``'s entries of the variance of its gradient over replicates."""
    grads = []
    for _ in range(replicates):
        weight.grad = None
        step()
        assert weight.grad is not None
        grads.append(weight.grad.detach().clone().reshape(-1))
    return float(torch.stack(grads).var(0).mean())


def pyro_step(elbo: Any, module: Any, x: Tensor) -> Callable[[], object]:
    def step() -> object:
        module.zero_grad(set_to_none=True)
        return elbo.loss_and_grads(module.model, module.guide, x)

    return step


def plain_step(loss: Callable[[], Tensor], module: nn.Module) -> Callable[[], object]:
    def step() -> object:
        module.zero_grad(set_to_none=True)
        value = loss()
        value.backward()
        return value

    return step


def compare(
    steps: dict[str, Callable[[], object]], weight: Tensor, replicates: int, repeats: int
) -> dict[str, dict[str, float]]:
    variances = {name: measure(step, weight, replicates) for name, step in steps.items()}
    seconds = interleaved_medians(steps, repeats, inner=3)
    return {
        name: {"encoder_grad_variance": variances[name], "seconds_per_step": seconds[name]}
        for name in steps
    }


def main() -> None:
    parser = timing_parser(__doc__ or "", repeats=5)
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    start(args)
    pyro.clear_param_store()
    x = binary_batch(args.batch)
    k = args.k

    vae = VAE()
    vae_steps = {
        "pyro Trace_ELBO (K=1)": pyro_step(Trace_ELBO(), vae, x),
        f"pyro RenyiELBO alpha=0 (K={k})": pyro_step(
            RenyiELBO(alpha=0, num_particles=k, vectorize_particles=True), vae, x
        ),
        **{
            f"reparam ImportanceWeightedELBO {g} (K={k})": pyro_step(
                ImportanceWeightedELBO(k, g), vae, x
            )
            for g in ("standard", "stl", "dreg")
        },
        **{
            f"plain PyTorch iwae_bound {g} (K={k})": plain_step(
                lambda g=g: vae.plain_loss(x, k, g), vae
            )
            for g in ("standard", "dreg")
        },
    }
    vae_results = compare(vae_steps, vae.encoder[2].weight, args.replicates, args.repeats)

    pyro.clear_param_store()
    bern = BernoulliModel()
    baseline = {"baseline": {"use_decaying_avg_baseline": True}}

    def with_infer(infer: dict[str, Any], step: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            bern.infer = infer
            return step()

        return run

    bern_steps = {
        "pyro Trace_ELBO (2 particles)": with_infer({}, pyro_step(Trace_ELBO(2), bern, x)),
        "pyro TraceGraph_ELBO, decaying-average baseline (2 particles)": with_infer(
            baseline, pyro_step(TraceGraph_ELBO(2), bern, x)
        ),
        "reparam EstimatorELBO score-loo (2 samples)": with_infer(
            {}, pyro_step(EstimatorELBO("score-loo", num_samples=2), bern, x)
        ),
        "reparam EstimatorELBO disarm (1 pair)": with_infer(
            {}, pyro_step(EstimatorELBO("disarm", num_samples=1), bern, x)
        ),
        "reparam EstimatorELBO relax (1 sample, untrained)": with_infer(
            {}, pyro_step(EstimatorELBO("relax", num_samples=1), bern, x)
        ),
        **{
            f"plain PyTorch {e}, {'per data point' if p else 'whole batch'}": plain_step(
                lambda e=e, p=p: bern.plain_loss(x, e, 2 if e == "score-loo" else 1, p), bern
            )
            for e in ("score-loo", "disarm")
            for p in (False, True)
        },
    }
    bern_results = compare(bern_steps, bern.encoder.weight, args.replicates, args.repeats)

    print_report(
        "pyro",
        {
            "replicates": args.replicates,
            "repeats": args.repeats,
            "threads": args.threads,
            "batch": args.batch,
            "k": k,
            "pyro": pyro.__version__,
        },
        {"vae": vae_results, "bernoulli": bern_results},
    )


if __name__ == "__main__":
    main()
