"""High-precision references for TruncatedNormal: the closed forms in mpmath.

The textbook formulas (differences of ``Phi``, ``1 + tilt - mean^2``) lose about
``2 log10(scale / width)`` digits for a scale wider than the interval (the
variance is ``1 - (1 - O(h^2))``) and ``2 log10|b|`` for a bound ``b`` standard
deviations out. Each reference works with 60 digits beyond those, and
``log10(scale / width)`` more for the finite differences of its gradients, so
its results are exact far beyond float64. An interval leaning right is computed
through the survival function, ``Phi(-x)``, so that no digit is lost to ``1 - Phi``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath as mp

EXTRA_DIGITS = 60


@dataclass(frozen=True)
class Reference:
    loc: float
    scale: float
    low: float
    high: float

    @property
    def digits(self) -> int:
        """Working precision: 60 digits beyond what the closed forms cancel here."""
        width = self.high - self.low
        wide = max(0.0, math.log10(self.scale / width)) if math.isfinite(width) else 0.0
        far = max(
            1.0,
            *(abs(v - self.loc) / self.scale for v in (self.low, self.high) if math.isfinite(v)),
        )
        return EXTRA_DIGITS + int(3 * wide + 2 * math.log10(far))

    def _standard(self) -> tuple[mp.mpf, mp.mpf, bool]:
        """``(a, b, flip)``: standardized bounds, mirrored so that ``a + b <= 0``."""
        a = (mp.mpf(self.low) - self.loc) / self.scale
        b = (mp.mpf(self.high) - self.loc) / self.scale
        flip = a + b > 0
        return (-b, -a, True) if flip else (a, b, False)

    def _mass(self) -> mp.mpf:
        a, b, _ = self._standard()
        return mp.ncdf(b) - mp.ncdf(a)

    @staticmethod
    def _phi(x: mp.mpf) -> mp.mpf:
        return mp.mpf(0) if mp.isinf(x) else mp.npdf(x)

    @staticmethod
    def _x_phi(x: mp.mpf) -> mp.mpf:
        return mp.mpf(0) if mp.isinf(x) else x * mp.npdf(x)

    def mean(self) -> float:
        with mp.workdps(self.digits):
            a, b, flip = self._standard()
            m = (self._phi(a) - self._phi(b)) / self._mass()
            return float(self.loc + self.scale * (-m if flip else m))

    def variance(self) -> float:
        with mp.workdps(self.digits):
            a, b, _ = self._standard()
            z = self._mass()
            m = (self._phi(a) - self._phi(b)) / z
            tilt = (self._x_phi(a) - self._x_phi(b)) / z
            return float(mp.mpf(self.scale) ** 2 * (1 + tilt - m * m))

    def entropy(self) -> float:
        with mp.workdps(self.digits):
            a, b, _ = self._standard()
            z = self._mass()
            tilt = (self._x_phi(a) - self._x_phi(b)) / z
            return float(mp.log(mp.sqrt(2 * mp.pi * mp.e) * self.scale * z) + tilt / 2)

    def log_prob(self, value: float) -> float:
        with mp.workdps(self.digits):
            x = (mp.mpf(value) - self.loc) / self.scale
            return float(-x * x / 2 - mp.log(mp.sqrt(2 * mp.pi) * self.scale * self._mass()))

    def cdf(self, value: float | mp.mpf, **shift: float) -> mp.mpf:
        """``F(value)``; ``shift`` moves parameters (for derivatives), e.g. ``loc=1e-30``."""
        with mp.workdps(self.digits):
            names = ("loc", "scale", "low", "high")
            p = {k: mp.mpf(getattr(self, k)) + shift.get(k, 0) for k in names}
            a, b = ((p[k] - p["loc"]) / p["scale"] for k in ("low", "high"))
            x = (mp.mpf(value) - p["loc"]) / p["scale"]
            if a + b > 0:  # through the survival function
                return (mp.ncdf(-a) - mp.ncdf(-x)) / (mp.ncdf(-a) - mp.ncdf(-b))
            return (mp.ncdf(x) - mp.ncdf(a)) / (mp.ncdf(b) - mp.ncdf(a))

    def density(self, value: float) -> mp.mpf:
        with mp.workdps(self.digits):
            return mp.exp(mp.mpf(self.log_prob(value)))

    def quantile(self, u: float, start: float) -> mp.mpf:
        """The exact quantile at ``u``, by Newton's method from ``start`` (a float64 guess)."""
        with mp.workdps(self.digits):
            z = mp.mpf(start)
            for _ in range(6):
                x = (z - self.loc) / self.scale
                density = mp.npdf(x) / (self.scale * self._mass())
                z = z - (self.cdf(z) - u) / density
            return z

    def quantile_gradient(self, value: mp.mpf, name: str) -> float:
        """``dz/dtheta = -(dF/dtheta) / f`` at ``z = value`` for the parameter ``name``."""
        with mp.workdps(self.digits):
            step = mp.mpf(10) ** (-self.digits // 3) * max(1, abs(mp.mpf(getattr(self, name))))
            up, down = self.cdf(value, **{name: step}), self.cdf(value, **{name: -step})
            slope = (up - down) / (2 * step)
            x = (mp.mpf(value) - self.loc) / self.scale
            density = mp.npdf(x) / (self.scale * self._mass())
            return float(-slope / density)
