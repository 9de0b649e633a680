"""Special functions and numerical machinery shared by the distributions.

Each distribution's sampler lives in its own module in ``reparam.distributions``;
what two or more of them share lives here:

* :mod:`.bessel`: ``log I_nu``, the ratio ``I_{nu+1} / I_nu``, its complement and
  slope, for every order and concentration;
* :mod:`.normal_tails`: standard normal CDF arithmetic in log space;
* :mod:`.normal_midpoint`, :mod:`.normal_tail_moments`: a normal density on a
  narrow interval around its midpoint, and beyond a bound in the distance from it
  (the truncated normal's stable coordinates);
* :mod:`.sphere`: the area of the unit sphere;
* :mod:`.angle`, :mod:`.angle_chain`, :mod:`.von_mises_series`: the law of the
  angle to the mean direction (von Mises and von Mises-Fisher), its CDF and the
  implicit derivative of a sample by quadrature, chained quadrature or series;
* :mod:`.limit_law`: that angle's Gamma limit law at large concentrations;
* :mod:`.rejection`: rejection sampling with a fixed number of rounds on the device;
* :mod:`.implicit`: implicit reparameterization as a surrogate tensor;
* :mod:`.constants`: constant tensors kept per device.
"""
