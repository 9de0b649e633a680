"""The noisy channel, in its three forms: the naive sampler, the trick by hand, ``rsample``.

An input ``x ~ U(-1, 1)`` is sent as ``y ~ N(x, delta)`` and the loss is
``(y - x)^2``. The exact objective is ``E[(y - x)^2] = delta^2`` with gradient
``2 delta``, so each step's one-sample gradient can be printed beside the exact
one while ``delta`` is trained by gradient descent.

1. ``naive``: ``Normal(x, delta).sample()`` is not a differentiable function of
   ``delta``: no gradient reaches it. Inside ``reparam.strict()`` the cut raises
   ``GradientCutError`` instead of training nothing in silence.
2. ``trick``: ``y = x + delta * eps`` with ``eps ~ N(0, 1)``: the
   reparameterization trick by hand.
3. ``builtin``: ``Normal(x, delta).rsample()``: the same trick, by the distribution.

``reparam channel`` runs the same experiment from the command line.

Run it::

    python examples/noisy_channel.py              # 100 steps, lr 0.1
    python examples/noisy_channel.py --steps 5
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Normal

import reparam


def naive(x: Tensor, delta: Tensor) -> Tensor:
    return Normal(x, delta).sample()  # a sample, but no path back to delta


def trick(x: Tensor, delta: Tensor) -> Tensor:
    return x + delta * torch.randn_like(x)


def builtin(x: Tensor, delta: Tensor) -> Tensor:
    # validate_args=False: a gradient step may take delta below 0, the same channel
    return Normal(x, delta, validate_args=False).rsample()


def train(send: Callable[[Tensor, Tensor], Tensor], steps: int, lr: float) -> None:
    delta = torch.tensor(1.0, requires_grad=True)
    for step in range(steps):
        x = torch.rand(()) * 2 - 1
        loss = (send(x, delta) - x) ** 2
        loss.backward()
        assert delta.grad is not None
        if step % max(1, steps // 5) == 0:
            print(
                f"  step {step:3d}: delta {delta.item():+.3e}, gradient estimate "
                f"{delta.grad.item():+.3e}, exact {2 * delta.item():+.3e}"
            )
        with torch.no_grad():
            delta -= lr * delta.grad
        delta.grad = None
    print(f"  after {steps} steps: |delta| = {abs(delta.item()):.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()
    torch.manual_seed(0)

    print("naive: Normal(x, delta).sample(), inside reparam.strict()")
    try:
        with reparam.strict():
            train(naive, args.steps, args.lr)
    except reparam.GradientCutError as error:
        print(f"  GradientCutError: {error}")

    for name, send in (("trick", trick), ("builtin", builtin)):
        print(f"{name}:")
        train(send, args.steps, args.lr)


if __name__ == "__main__":
    main()
