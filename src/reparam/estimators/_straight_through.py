"""The plain straight-through estimator (biased).

Draw an exact discrete sample ``z ~ q`` and pass ``f`` the tensor

    z + (p - stop(p)),        p = E_q[z]  (sigmoid(phi), or softmax(logits)),

whose value is ``z`` and whose derivative is that of the mean ``p``: backward
treats the sampling step as the identity (Bengio, Leonard and Courville, 2013).
The estimate is ``grad_z f(z) * grad_theta p``, **biased** unless ``f`` is
linear: for ``f(z) = (z - t)^2`` with ``z ~ Bernoulli(p)`` its mean is
``2 (p - t) p (1 - p)`` against the exact ``(1 - 2 t) p (1 - p)`` (per logit).

``f`` receives hard samples ``[S, *logits.shape]``: 0/1 floats for Bernoulli,
one-hot vectors for ``OneHotCategorical`` and ``Categorical``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.estimators._base import Cost, Estimator, evaluate_cost
from reparam.estimators._discrete import discrete_view
from reparam.estimators._gumbel_softmax import harden, perturbed_logits

__all__ = ["StraightThrough"]
"""What ``registry.py`` star-imports, and so ``reparam.estimators`` and ``reparam`` export."""


class StraightThrough(Estimator):
    """Straight-through: ``f`` at exact samples, gradient through their mean. **Biased.**

    >>> import torch
    >>> from torch.distributions import Bernoulli
    >>> logits = torch.zeros(3, requires_grad=True)
    >>> h = StraightThrough().surrogate(lambda z: 2 * z, Bernoulli(logits=logits), 5)
    >>> (g,) = torch.autograd.grad(h.mean(0).sum(), logits)
    >>> g  # linear f: exact, 2 * sigmoid'(0)
    tensor([0.5000, 0.5000, 0.5000])
    """

    name = "straight-through"
    unbiased = False

    def check_supports(self, dist: Distribution) -> None:
        discrete_view(dist, self.name)

    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        view = discrete_view(dist, self.name)
        with torch.no_grad():
            z = harden(view, perturbed_logits(view, num_samples))
        if view.kind == "bernoulli":
            mean = torch.sigmoid(view.logits)
        else:
            mean = torch.softmax(view.logits, -1)
        return evaluate_cost(f, z + (mean - mean.detach()), dist)
