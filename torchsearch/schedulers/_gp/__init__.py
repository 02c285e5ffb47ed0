"""Gaussian-process math behind :class:`torchsearch.schedulers.Bayes` (private).

- ``kernel``: Matern-5/2 with one lengthscale per ordered input and a mismatch term per category.
- ``gp``: hyperparameter fit by maximum a posteriori marginal likelihood, posterior, fantasies.
- ``warp``: output standardisation, with a power transform for heavy bad tails.
- ``transform``: log and Gaussian-copula maps for losses that span decades (a screen switch,
  ``warp.TRANSFORM``, off by default).
- ``acquisition``: Expected Improvement and its stable log form.
- ``search``: maximise the acquisition over a mixed space (quasi-random starts, local and
  one-or-two-column jumps from the best observations, L-BFGS-B, discrete neighbourhood search).

Everything is float64 PyTorch; tensors follow the device of their inputs.
"""
