"""Cost of a reparameterized sample plus its backward pass, against plain sampling.

For each case, two timings of ``--num`` samples from one distribution:

* ``plain``: drawing without gradients, as one would without ``rsample``: for
  von Mises, PyTorch's own ``torch.distributions.VonMises.sample()``; for the
  others ``sample()`` (the same sampler, no gradient work) or, for the mixtures,
  PyTorch's ``MixtureSameFamily.sample()``;
* ``rsample_backward``: ``rsample()``, a cost ``sum(f(x))``, and
  ``torch.autograd.grad`` with respect to every parameter.

Both sides build the distribution from the current parameters on every call
(as a training step must; detached for ``plain``), in the same dtype (float32),
with the same number of samples. ``ratio`` is ``rsample_backward / plain``
(goal: at most 3). Both are timed in the same process, interleaved, by the clock
of ``_common.py`` (the CPU time of the calling thread, PyTorch on ``--threads``
threads; on CUDA, the synchronised wall clock), median over ``--repeats``.
Prints one JSON object.

Side by side (``against_power_spherical``): ``rsample()`` plus backward of
reparam's von Mises-Fisher against the power spherical distribution (De Cao and
Aziz, 2020; the ``power-spherical`` package, in the ``dev`` extra) with the same
mean direction and concentration (its ``scale``), at d = 3, 10 and 100 (kappa 10,
10 and 1000), float32, timed the same way; ``ratio`` is vMF / power spherical
(goal: at most 1.5). Left out, with a note, when the package is missing. The
last entries draw one sample from each of 128 and of ``--num`` distributions
(d = 3, 10 and 100, concentrations spread from half to one and a half times 10,
10 and 1000), as a VAE's batch does: there no two samples share a concentration
and the vMF's implicit gradient takes the per-sample quadrature.

Usage: ``python benchmarks/distributions.py [--num 10000] [--repeats 11] [--threads 1]``
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributions as td

from reparam.distributions import MixtureSameFamily, TruncatedNormal, VonMises, VonMisesFisher

from _common import Timed, interleaved_medians, print_report, start, timing_parser


def leaf(*values: float) -> torch.Tensor:
    return torch.tensor(values if len(values) > 1 else values[0]).requires_grad_(True)


def backward(make: Callable[[], td.Distribution], params: list[torch.Tensor], num: int) -> Timed:
    def run() -> object:
        x = make().rsample((num,))
        return torch.autograd.grad(torch.sin(x).sum(), params)

    return run


def von_mises(kappa: float, num: int) -> tuple[Timed, Timed]:
    loc, k = leaf(0.5), leaf(kappa)

    def plain() -> object:
        return td.VonMises(loc.detach(), k.detach()).sample((num,))

    return plain, backward(lambda: VonMises(loc, k), [loc, k], num)


def von_mises_fisher(dim: int, kappa: float, num: int) -> tuple[Timed, Timed]:
    raw, k = torch.ones(dim).requires_grad_(True), leaf(kappa)

    def make() -> VonMisesFisher:
        return VonMisesFisher(torch.nn.functional.normalize(raw, dim=0), k)

    def plain() -> object:
        with torch.no_grad():
            return make().sample((num,))

    return plain, backward(make, [raw, k], num)


def vmf_and_power_spherical(
    dim: int, kappa: float, num: int, *, one_each: bool = False
) -> tuple[Timed, Timed] | None:
    """``rsample`` + backward of reparam's vMF and of ``power_spherical.PowerSpherical``.

    ``num`` samples of one distribution, or (``one_each``) one sample of each of
    ``num`` distributions with concentrations spread around ``kappa``, as in a VAE's
    batch. Both without argument validation, as a model in training builds them.
    """
    try:
        from power_spherical import PowerSpherical
    except ImportError:
        return None
    if not one_each:
        raw, k = torch.ones(dim).requires_grad_(True), leaf(kappa)
        shape: tuple[int, ...] = (num,)
    else:
        raw = torch.ones(num, dim).requires_grad_(True)
        k = (kappa * torch.linspace(0.5, 1.5, num)).requires_grad_(True)
        shape = ()

    def timed(family: Callable[..., td.Distribution]) -> Timed:
        def run() -> object:
            loc = torch.nn.functional.normalize(raw, dim=-1)
            x = family(loc, k, validate_args=False).rsample(shape)
            return torch.autograd.grad(torch.sin(x).sum(), [raw, k])

        return run

    return timed(PowerSpherical), timed(VonMisesFisher)


def against_power_spherical(num: int, repeats: int) -> dict[str, object]:
    results: dict[str, object] = {}
    settings = [(3, 10.0), (10, 10.0), (100, 1000.0)]
    cases = [(dim, kappa, num, False) for dim, kappa in settings]
    cases += [(dim, kappa, count, True) for count in (128, num) for dim, kappa in settings]
    for dim, kappa, count, one_each in cases:
        pair = vmf_and_power_spherical(dim, kappa, count, one_each=one_each)
        if pair is None:
            return {"note": "power-spherical is not installed (pip install power-spherical)"}
        power_s, vmf_s = median_times(*pair, repeats)
        name = f"d={dim} kappa={kappa:g}" + (
            f", one sample each of {count} distributions" if one_each else ""
        )
        results[name] = {
            "power_spherical_ms": round(1e3 * power_s, 3),
            "von_mises_fisher_ms": round(1e3 * vmf_s, 3),
            "ratio": round(vmf_s / power_s, 2),
        }
    return results


def truncated_normal(low: float, high: float, num: int) -> tuple[Timed, Timed]:
    loc, scale = leaf(0.0), leaf(1.0)

    def plain() -> object:
        return TruncatedNormal(loc.detach(), scale.detach(), low, high).sample((num,))

    make = lambda: TruncatedNormal(loc, scale, low, high)  # noqa: E731
    return plain, backward(make, [loc, scale], num)


def mixture(dims: int, num: int) -> tuple[Timed, Timed]:
    logits = torch.zeros(3).requires_grad_(True)
    locs = torch.linspace(-2, 2, 3 * dims).reshape(3, dims).squeeze(-1).requires_grad_(True)
    scales = torch.ones_like(locs).requires_grad_(True)

    def component(loc: torch.Tensor, scale: torch.Tensor) -> td.Distribution:
        normal = td.Normal(loc, scale)
        return normal if dims == 1 else td.Independent(normal, 1)

    def plain() -> object:
        mixing = td.Categorical(logits=logits.detach())
        mix = td.MixtureSameFamily(mixing, component(locs.detach(), scales.detach()))
        return mix.sample((num,))

    make = lambda: MixtureSameFamily(td.Categorical(logits=logits), component(locs, scales))  # noqa: E731
    return plain, backward(make, [logits, locs, scales], num)


def median_times(plain: Timed, grad: Timed, repeats: int) -> tuple[float, float]:
    medians = interleaved_medians({"plain": plain, "grad": grad}, repeats)
    return medians["plain"], medians["grad"]


def main() -> None:
    parser = timing_parser(__doc__, repeats=11)
    parser.add_argument("--num", type=int, default=10_000)
    args = parser.parse_args()
    start(args)
    n = args.num
    cases = {
        "von_mises kappa=0.01": von_mises(0.01, n),
        "von_mises kappa=1": von_mises(1.0, n),
        "von_mises kappa=100": von_mises(100.0, n),
        "von_mises_fisher d=3 kappa=10": von_mises_fisher(3, 10.0, n),
        "von_mises_fisher d=10 kappa=10": von_mises_fisher(10, 10.0, n),
        "von_mises_fisher d=100 kappa=1000": von_mises_fisher(100, 1000.0, n),
        "truncated_normal [-1, 2]": truncated_normal(-1.0, 2.0, n),
        "truncated_normal [8, 9]": truncated_normal(8.0, 9.0, n),
        "mixture 3 x Normal": mixture(1, n),
        "mixture 3 x diagonal Normal, d=4": mixture(4, n),
    }
    results = {}
    for name, (plain, grad) in cases.items():
        plain_s, grad_s = median_times(plain, grad, args.repeats)
        results[name] = {
            "plain_ms": round(1e3 * plain_s, 3),
            "rsample_backward_ms": round(1e3 * grad_s, 3),
            "ratio": round(grad_s / plain_s, 2),
        }
    settings = {"num_samples": n, "threads": args.threads, "repeats": args.repeats}
    body = {"results": results, "against_power_spherical": against_power_spherical(n, args.repeats)}
    print_report("distributions", settings, body)


if __name__ == "__main__":
    main()
