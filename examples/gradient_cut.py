"""Finding a gradient cut with ``reparam.strict()``.

A model that samples with ``.sample()`` where it meant ``.rsample()`` still
runs: the loss goes down through the parameters that do get gradients, and
the others keep their initial values, in silence. ``reparam.strict()`` turns
such a cut into a ``GradientCutError`` that names the parameter and the fix.
It catches two kinds:

* a sampler without a gradient path (``dist.sample()``, ``torch.normal``,
  ``torch.bernoulli``, ...) called on parameters that require grad;
* ``reparam.expectation(f, dist, "pathwise")`` with an ``f`` whose value does
  not depend on its samples through a gradient path (``z.detach()``,
  ``z.item()``, ``z > 0``).

Run it::

    python examples/gradient_cut.py
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn
from torch.distributions import Normal

import reparam


class NoisyRegressor(nn.Module):
    """Predicts ``y`` from ``x`` through a noisy hidden code ``h ~ N(W x, s)``."""

    def __init__(self, careless: bool) -> None:
        super().__init__()
        self.encode = nn.Linear(4, 8)
        self.log_scale = nn.Parameter(torch.zeros(8))
        self.readout = nn.Linear(8, 1)
        self.careless = careless

    def forward(self, x: Tensor) -> Tensor:
        code = Normal(self.encode(x), self.log_scale.exp())
        h = code.sample() if self.careless else code.rsample()  # the bug, and its fix
        return self.readout(h).squeeze(-1)


def step(model: NoisyRegressor, x: Tensor, y: Tensor) -> None:
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randn(32)

    # 1. Without strict(): the careless model trains, but its encoder never learns.
    model = NoisyRegressor(careless=True)
    step(model, x, y)
    print("without strict(): encoder gradient is", model.encode.weight.grad)

    # 2. With strict(): the same step raises at the cut, naming the parameter.
    try:
        with reparam.strict():
            step(NoisyRegressor(careless=True), x, y)
    except reparam.GradientCutError as error:
        print(f"with strict(): GradientCutError: {error}\n")

    # 3. The fix (rsample) passes the same check, and the encoder gets its gradient.
    model = NoisyRegressor(careless=False)
    with reparam.strict():
        step(model, x, y)
    assert model.encode.weight.grad is not None
    print(f"fixed: encoder gradient norm {model.encode.weight.grad.norm().item():.4f}\n")

    # 4. A pathwise estimate of a cost that never looks at z through a path:
    #    (z > 0) is a step function, whose derivative is zero wherever it exists.
    mu = torch.zeros(3, requires_grad=True)
    try:
        with reparam.strict():
            reparam.expectation(lambda z: (z > 0).float(), Normal(mu, 1.0), "pathwise")
    except reparam.GradientCutError as error:
        print(f"pathwise on a step function: GradientCutError: {error}\n")
    # The score function needs no path through z: it estimates d/dmu P(z > 0).
    above = reparam.expectation(lambda z: (z > 0).float(), Normal(mu, 1.0), "score-loo", 64)
    above.sum().backward()
    assert mu.grad is not None
    estimates = ", ".join(f"{g:.3f}" for g in mu.grad.tolist())
    print(f"score-loo instead: d/dmu P(z > 0) estimates {estimates} (exact 0.399 each)")


if __name__ == "__main__":
    main()
