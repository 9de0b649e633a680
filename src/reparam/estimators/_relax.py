"""RELAX: an unbiased estimator with a learned, relaxation-based control variate.

Write the discrete sample as ``b = H(z)`` with ``z = logits + noise`` (logistic
noise and ``H(z) = 1[z > 0]`` for Bernoulli; Gumbel noise and
``H(z) = onehot(argmax z)`` for categorical), and draw ``z~ ~ p(z | b)`` by
conditional reparameterization. For any differentiable ``c_psi``, Grathwohl,
Choi, Wu, Roeder and Duvenaud (2018), "Backpropagation through the Void", eq. 8:

    g = [f(b) - c_psi(z~)] grad log q(b) + grad c_psi(z) - grad c_psi(z~)

is unbiased for ``grad E_q[f(b)]``, whatever ``psi``. Since ``E[g]`` does not
depend on ``psi``, the variance is minimised by descending
``d/dpsi E[g^2]``: :meth:`RELAX.gradients` returns ``g`` together with the
differentiable ``sum g^2`` to do that (Grathwohl et al., Algorithm 1), and
:meth:`RELAX.training_term` folds that step into the objective itself, so that
one ``backward`` trains the model and the control variate (what
``reparam.models.dvae`` does). Both compute ``g`` and ``sum g^2`` the same way,
in :meth:`RELAX.gradients`.

The control variate is any module called as ``control_variate(z, f, categorical)``
on the continuous ``z`` of shape ``[S, *logits.shape]`` and returning
``[S, *batch_shape]``. The default, :class:`ConcreteControlVariate`, is
``eta * f(relaxed(z, tau)) + r(z)`` with a learned temperature and scale (REBAR,
Tucker et al. 2017) plus an optional learned correction ``r``.

Shapes: ``f`` receives hard samples ``[S, *logits.shape]`` (0/1 for Bernoulli,
one-hot for ``OneHotCategorical`` and ``Categorical``) and, through the default
control variate, relaxed ones of the same shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution

from reparam.estimators._base import Cost, Estimator, evaluate_cost, magic_box
from reparam.estimators._discrete import DiscreteView, discrete_view, uniform
from reparam.estimators._gumbel_softmax import harden, perturbed_logits
from reparam.estimators._temperature import check_temperature

__all__ = ["RELAX", "ConcreteControlVariate"]
"""What ``registry.py`` star-imports, and so ``reparam.estimators`` and ``reparam`` export."""


class ConcreteControlVariate(nn.Module):
    """``c(z) = eta * f(relaxed(z, tau)) + r(z)``, with ``tau``, ``eta`` (and ``r``) learned.

    Args:
        temperature: initial ``tau``, a number or a 0-dim tensor (stored as the
            learned ``log_temperature``, a float32 parameter).
        scale: initial ``eta``.
        correction: optional module ``r`` mapping ``z`` ``[S, *logits.shape]`` to
            values broadcastable to ``[S, *batch_shape]``.
    """

    def __init__(
        self,
        temperature: float | Tensor = 0.5,
        scale: float = 1.0,
        correction: nn.Module | None = None,
    ) -> None:
        super().__init__()
        check_temperature(temperature)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(float(temperature))))
        self.scale = nn.Parameter(torch.tensor(float(scale)))
        self.correction = correction

    def forward(self, z: Tensor, f: Cost, categorical: bool) -> Tensor:
        tau = self.log_temperature.exp()
        y = torch.softmax(z / tau, dim=-1) if categorical else torch.sigmoid(z / tau)
        value = self.scale * f(y)
        if self.correction is not None:
            value = value + self.correction(z)
        return value


class RELAX(Estimator):
    """RELAX for Bernoulli and categorical variables: unbiased, with a learned control variate.

    The per-sample surrogate is

        h_s = box_s f(b_s) + (1 - box_s) c(stop z~_s) + (c(z_s) - stop) - (c(z~_s) - stop),

    with ``box_s = magic_box(log q(b_s))``: value ``f(b_s)``, gradient ``g_s``.
    Its gradient with respect to the control variate's own parameters estimates
    zero; train those either with :meth:`gradients` and an optimizer of their
    own (leaving them out of the model's ``backward``, e.g.
    ``loss.backward(inputs=model_params)``), or by adding :meth:`training_term`
    to the loss, which makes one ``backward`` give them ``d/dpsi sum g^2``.

    Training both, one step (the control variate minimises ``E[g^2]``):

    >>> import torch, reparam
    >>> from torch.distributions import Bernoulli
    >>> logits = torch.zeros(3, requires_grad=True)
    >>> estimator = reparam.RELAX()
    >>> cv_opt = torch.optim.Adam(estimator.control_variate.parameters(), lr=1e-2)
    >>> f = lambda z: (z - 0.49) ** 2
    >>> objective = reparam.expectation(f, Bernoulli(logits=logits), estimator, 4).sum()
    >>> (grad,), variance_loss = estimator.gradients(objective, [logits])
    >>> cv_opt.zero_grad()
    >>> variance_loss.backward(inputs=list(estimator.control_variate.parameters()))
    >>> cv_opt.step()
    >>> logits.grad = grad  # then step the model's optimizer with this gradient

    The same step folded into one ``backward`` (the logits' gradient is unchanged):

    >>> objective = reparam.expectation(f, Bernoulli(logits=logits), estimator, 4).sum()
    >>> loss = objective + estimator.training_term(objective, [logits])
    >>> loss.backward()  # the control variate's .grad is d/dpsi sum g^2
    """

    name = "relax"
    unbiased = True

    def __init__(self, control_variate: nn.Module | None = None) -> None:
        self.control_variate = (
            ConcreteControlVariate() if control_variate is None else control_variate
        )

    def check_supports(self, dist: Distribution) -> None:
        discrete_view(dist, self.name)

    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        view = discrete_view(dist, self.name)
        categorical = view.kind == "categorical"
        z = perturbed_logits(view, num_samples)
        b = harden(view, z.detach())
        z_tilde = conditional_perturbed_logits(view, b)
        costs = evaluate_cost(f, b, dist)
        c = self.control_variate(torch.cat([z, z_tilde, z_tilde.detach()]), f, categorical)
        c_z, c_tilde, c_stopped = c.split(num_samples)
        box = magic_box(view.log_prob(b))
        return (
            box * costs
            + (1.0 - box) * c_stopped
            + (c_z - c_z.detach())
            - (c_tilde - c_tilde.detach())
        )

    @staticmethod
    def gradients(objective: Tensor, params: Sequence[Tensor]) -> tuple[tuple[Tensor, ...], Tensor]:
        """The gradient estimate ``g`` of a scalar ``objective`` and ``sum g^2``.

        ``objective`` is built with this estimator (e.g. ``expectation(...).sum()``);
        ``params`` are the tensors to differentiate (the model's parameters or the
        logits). Returns the detached gradients and the differentiable variance
        loss ``sum_i ||g_i||^2``, whose gradient with respect to the control
        variate's parameters is an unbiased estimate of ``d/dpsi Var(g)``.
        """
        grads = torch.autograd.grad(objective, list(params), create_graph=True)
        loss = sum((g.pow(2).sum() for g in grads), objective.new_zeros(()))
        return tuple(g.detach() for g in grads), loss

    def trainable(self) -> nn.Module:
        """The control variate: a model owning this estimator registers and optimizes it."""
        return self.control_variate

    def training_term(self, objective: Tensor, wrt: Sequence[Tensor]) -> Tensor:
        """Zero-valued; in ``objective``'s ``backward`` it turns psi's gradient into ``d sum g^2``.

        ``objective`` is a scalar built with this estimator, ``wrt`` the tensors
        whose gradient estimate ``g`` should have a low variance (the logits, or
        the parameters computing them). Added to ``objective``, the term leaves
        the value and every other gradient unchanged and replaces the control
        variate's own gradient of ``objective`` (which estimates zero) by the
        gradient of :meth:`gradients`'s variance loss ``sum_i ||g_i||^2``.
        """
        params = [p for p in self.control_variate.parameters() if p.requires_grad]
        if not params:
            return objective.new_zeros(())
        _, variance = self.gradients(objective, wrt)
        wanted = torch.autograd.grad(variance, params, retain_graph=True)
        given = torch.autograd.grad(objective, params, retain_graph=True, allow_unused=True)
        term = objective.new_zeros(())
        for p, w, h in zip(params, wanted, given, strict=True):
            shift = w if h is None else w - h
            term = term + (p * shift.detach()).sum()
        return term - term.detach()

    def __repr__(self) -> str:
        return f"RELAX(control_variate={type(self.control_variate).__name__}(...))"


def conditional_perturbed_logits(view: DiscreteView, b: Tensor) -> Tensor:
    """Draw ``z~ ~ p(z | H(z) = b)``, reparameterized in the logits (in log space).

    Bernoulli: ``z~ = phi + logit(u')`` with ``u'`` uniform on ``(1 - p, 1)`` if
    ``b = 1`` and on ``(0, 1 - p)`` if ``b = 0``. Categorical (Grathwohl et al.,
    appendix): with ``E = -log v``, ``z~_b = -log E_b`` and
    ``z~_i = -log(E_i / p_i + E_b)`` for ``i != b``.
    """
    logits = view.logits
    v = uniform(b.shape, logits)
    if view.kind == "bernoulli":
        log_p, log_q = F.logsigmoid(logits), F.logsigmoid(-logits)
        log_v, log_1v = torch.log(v), torch.log1p(-v)
        one = logits + torch.logaddexp(log_q, log_p + log_v) - log_p - log_1v
        zero = logits + log_v + log_q - torch.logaddexp(log_p, log_q + log_1v)
        return torch.where(b > 0, one, zero)
    log_e = torch.log(-torch.log(v))
    log_e_b = (log_e * b).sum(-1, keepdim=True)
    log_p = torch.log_softmax(logits, -1)
    others = -torch.logaddexp(log_e - log_p, log_e_b)
    return torch.where(b > 0, -log_e_b.expand_as(others), others)
