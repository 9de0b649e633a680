"""High-precision references for TruncatedNormal: closed forms in mpmath at 700 digits.

At that precision the textbook formulas (differences of ``Phi``, ``1 + tilt -
mean^2``) are exact to far beyond float64 for every case the tests use: a scale
``1e300`` times the interval loses 600 digits in the variance, a bound ``1e4`` standard
deviations out about 16. An interval leaning right is computed through the
survival function, ``Phi(-x)``, so that no digit is lost to ``1 - Phi``.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath as mp

DIGITS = 700


@dataclass(frozen=True)
class Reference:
    loc: float
    scale: float
    low: float
    high: float

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
        with mp.workdps(DIGITS):
            a, b, flip = self._standard()
            m = (self._phi(a) - self._phi(b)) / self._mass()
            return float(self.loc + self.scale * (-m if flip else m))

    def variance(self) -> float:
        with mp.workdps(DIGITS):
            a, b, _ = self._standard()
            z = self._mass()
            m = (self._phi(a) - self._phi(b)) / z
            tilt = (self._x_phi(a) - self._x_phi(b)) / z
            return float(mp.mpf(self.scale) ** 2 * (1 + tilt - m * m))

    def entropy(self) -> float:
        with mp.workdps(DIGITS):
            a, b, _ = self._standard()
            z = self._mass()
            tilt = (self._x_phi(a) - self._x_phi(b)) / z
            return float(mp.log(mp.sqrt(2 * mp.pi * mp.e) * self.scale * z) + tilt / 2)

    def log_prob(self, value: float) -> float:
        with mp.workdps(DIGITS):
            x = (mp.mpf(value) - self.loc) / self.scale
            return float(-x * x / 2 - mp.log(mp.sqrt(2 * mp.pi) * self.scale * self._mass()))

    def cdf(self, value: float, **shift: float) -> mp.mpf:
        """``F(value)``; ``shift`` moves parameters (for derivatives), e.g. ``loc=1e-30``."""
        with mp.workdps(DIGITS):
            names = ("loc", "scale", "low", "high")
            p = {k: mp.mpf(getattr(self, k)) + shift.get(k, 0) for k in names}
            a, b = ((p[k] - p["loc"]) / p["scale"] for k in ("low", "high"))
            x = (mp.mpf(value) - p["loc"]) / p["scale"]
            if a + b > 0:  # through the survival function
                return (mp.ncdf(-a) - mp.ncdf(-x)) / (mp.ncdf(-a) - mp.ncdf(-b))
            return (mp.ncdf(x) - mp.ncdf(a)) / (mp.ncdf(b) - mp.ncdf(a))

    def density(self, value: float) -> mp.mpf:
        with mp.workdps(DIGITS):
            return mp.exp(mp.mpf(self.log_prob(value)))

    def quantile_gradient(self, value: float, name: str) -> float:
        """``dz/dtheta = -(dF/dtheta) / f`` at ``z = value`` for the parameter ``name``."""
        with mp.workdps(DIGITS):
            step = mp.mpf(10) ** (-150) * max(1, abs(mp.mpf(getattr(self, name))))
            up, down = self.cdf(value, **{name: step}), self.cdf(value, **{name: -step})
            slope = (up - down) / (2 * step)
            x = (mp.mpf(value) - self.loc) / self.scale
            density = mp.npdf(x) / (self.scale * self._mass())
            return float(-slope / density)
