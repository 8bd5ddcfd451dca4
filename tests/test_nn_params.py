"""Parameterisation maps of fp.nn (score / eps / x0 / v): exact to round-off for every LinearSDE."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import fplab as fp

torch = pytest.importorskip("torch")

from fplab.nn.params import PARAMETERISATIONS, convert, marginal_coefficients_array  # noqa: E402

SDES_UNDER_TEST = [
    fp.VP(beta_min=0.1, beta_max=20.0, T=1.0),
    fp.VP(beta_min=0.1, beta_max=20.0, T=2.0, schedule="cosine"),
    fp.VP(beta_min=0.1, beta_max=20.0, T=1.0, schedule="quadratic"),
    fp.SubVP(beta_min=0.1, beta_max=20.0, T=1.0),
    fp.VE(sigma_min=0.01, sigma_max=50.0, T=1.0),
    fp.OU(theta=0.7, mu=1.5, sigma=1.2),
    fp.Heat(D=0.5),
]
IDS = ["vp", "vp-cosine", "vp-quadratic", "subvp", "ve", "ou", "heat"]


@pytest.mark.parametrize("sde", SDES_UNDER_TEST, ids=IDS)
def test_marginal_coefficients_match_transition_to_roundoff(sde):
    times = np.array([1e-4, 0.01, 0.3, 0.77, 1.0])
    alpha, sigma, c = marginal_coefficients_array(sde, times)
    for i, t in enumerate(times):
        m, shift, v = sde.transition(0.0, float(t))
        assert alpha[i] == pytest.approx(m, rel=1e-13)
        assert sigma[i] == pytest.approx(np.sqrt(v), rel=1e-12)
        np.testing.assert_allclose(c[i], np.atleast_1d(shift), rtol=1e-13, atol=1e-15)


def _forward_sample(sde, rng, n=64, d=2):
    t = rng.uniform(0.05, 0.95, size=n)
    alpha, sigma, c = marginal_coefficients_array(sde, t)
    x0 = rng.normal(size=(n, d))
    eps = rng.normal(size=(n, d))
    a, s = alpha[:, None], sigma[:, None]
    x = a * x0 + c + s * eps
    # targets from their definitions: conditional score of N(α x0 + c, σ² I) at x is -ε/σ
    truth = {"eps": eps, "x0": x0, "v": a * eps - s * x0, "score": -eps / s}
    return x, a, s, c, truth


@pytest.mark.parametrize("sde", SDES_UNDER_TEST, ids=IDS)
def test_every_conversion_recovers_the_definition(sde, rng):
    x, a, s, c, truth = _forward_sample(sde, rng)
    for src, dst in itertools.product(PARAMETERISATIONS, repeat=2):
        got = convert(truth[src], src, dst, x, a, s, c)
        # each map is two or three affine operations: error a few ulps of the largest operand
        np.testing.assert_allclose(got, truth[dst], rtol=1e-11, atol=1e-11, err_msg=f"{src}->{dst}")


def test_conversions_agree_on_torch_tensors_and_numpy(rng):
    sde = fp.SubVP()
    x, a, s, c, truth = _forward_sample(sde, rng)
    tens = lambda z: torch.as_tensor(z, dtype=torch.float64)  # noqa: E731
    for src, dst in itertools.product(PARAMETERISATIONS, repeat=2):
        got = convert(tens(truth[src]), src, dst, tens(x), tens(a), tens(s), tens(c))
        want = convert(truth[src], src, dst, x, a, s, c)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-14, atol=1e-14)


def test_exact_score_maps_to_posterior_mean_denoiser(rng):
    # Tweedie: E[x0 | x_t] = (x + σ² s(x)) / α for VP; for a Gaussian N(μ, v) data law the posterior
    # mean is μ + α v (x - α μ) / (α² v + σ²), independent of the conversion code.
    sde = fp.VP()
    mu, v = 0.7, 0.4
    p0 = fp.GaussianMixture([1.0], [[mu]], [[[v]]])
    score = fp.exact_score(sde, p0)
    t = 0.3
    x = rng.normal(size=(50, 1))
    alpha, sigma, c = marginal_coefficients_array(sde, [t])
    x0_hat = convert(score(x, t), "score", "x0", x, alpha[0], sigma[0], c[0])
    a, s2 = alpha[0], sigma[0] ** 2
    expected = mu + a * v * (x - a * mu) / (a * a * v + s2)
    np.testing.assert_allclose(x0_hat, expected, rtol=1e-12)


def test_convert_rejects_unknown_parameterisation():
    with pytest.raises(ValueError, match="dst"):
        convert(np.zeros((1, 1)), "eps", "epsilon", np.zeros((1, 1)), 1.0, 1.0)


def test_import_fplab_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, fplab; fplab.VP(); fplab.exact_score; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
