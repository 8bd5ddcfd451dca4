"""Labelled mixtures, class-conditional exact scores, guided scores and the tilted target.

Independent answers: densities of the diffused components written with scipy.stats and
differentiated by central differences (step 1e-5: truncation ~1e-10 relative, round-off
~1e-11/1e-5 = 1e-6 absolute on log-densities of size ~10, hence the 1e-5 tolerances).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import fplab as fp

VP = fp.VP(beta_min=0.1, beta_max=20.0, T=1.0)
P2 = fp.GaussianMixture(
    [0.3, 0.2, 0.5],
    [[-2.0, 0.0], [0.0, 2.0], [2.0, 0.5]],
    [np.diag([0.3, 0.2]), [[0.2, 0.05], [0.05, 0.3]], 0.4 * np.eye(2)],
    labels=["a", "b", "a"],
)
P1 = fp.GaussianMixture(
    [0.4, 0.35, 0.25], [[-2.0], [1.5], [3.0]], [0.05, 0.1, 0.2], labels=[0, 1, 1]
)
X2 = P2.sample(40, seed=3)
X1 = P1.sample(40, seed=3)


def _log_class_density(p0, label, x, t):
    """log Σ_{k: label_k = y} w_k N(x; α m_k, α² C_k + σ² I) (or all k for label None), by scipy."""
    a, sig = VP.marginal_coefficients(t)
    total = np.zeros(x.shape[0])
    for k in range(p0.n_components):
        if label is not None and p0.labels[k] != label:
            continue
        cov = a * a * p0.covs[k] + sig * sig * np.eye(p0.dim)
        total += p0.weights[k] * stats.multivariate_normal(a * p0.means[k], cov).pdf(x)
    return np.log(total)


def _fd_grad(f, x, h=1e-5):
    out = np.empty_like(x)
    for j in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[j] = h
        out[:, j] = (f(x + e) - f(x - e)) / (2 * h)
    return out


# -- labels ----------------------------------------------------------------------------------------
def test_labels_give_conditionals_with_renormalised_weights_and_survive_diffusion():
    cond = P1.conditional(1)
    np.testing.assert_allclose(cond.weights, [0.35 / 0.6, 0.25 / 0.6], rtol=1e-15)
    np.testing.assert_array_equal(cond.means, P1.means[1:])
    assert cond.labels == (1, 1) and P1.class_weight(1) == pytest.approx(0.6, rel=1e-15)
    pt = fp.exact_marginal(VP, P2, 0.4)
    assert pt.labels == ("a", "b", "a") and "labels=['a', 'b', 'a']" in repr(pt)
    assert fp.GaussianMixture([1.0], [[0.0]], [1.0]).labels is None


@pytest.mark.parametrize(
    ("labels", "exc", "match"),
    [
        ([0, 1], ValueError, "one label per component: 3 expected, got 2"),
        ("abc", TypeError, "sequence"),
        ([0, 1.5, 2], TypeError, "ints or strings"),
        ([0, True, 2], TypeError, "ints or strings"),
    ],
)
def test_bad_labels_are_rejected(labels, exc, match):
    with pytest.raises(exc, match=match):
        fp.GaussianMixture([0.2, 0.3, 0.5], [[0.0], [1.0], [2.0]], [1.0, 1.0, 1.0], labels=labels)


# -- class-conditional exact score ---------------------------------------------------------------
@pytest.mark.parametrize("t", [0.01, 0.3, 0.9])
def test_exact_score_given_a_label_is_the_gradient_of_the_class_conditional_density(t):
    for p0, x, label in ((P1, X1, 1), (P2, X2, "a")):
        got = fp.exact_score(VP, p0, label=label)(x, t)
        want = _fd_grad(lambda z, p0=p0, label=label: _log_class_density(p0, label, z, t), x)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# -- guided score ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["cfg", "classifier"])
def test_guidance_weight_zero_is_unconditional_and_one_is_conditional(kind):
    for t in (1e-3, 0.2, 0.8):
        s_u = fp.exact_score(VP, P2)(X2, t)
        s_c = fp.exact_score(VP, P2, label="b")(X2, t)
        np.testing.assert_array_equal(fp.guided_score(VP, P2, "b", 0.0, kind=kind)(X2, t), s_u)
        # s_u + (s_c - s_u): rounding of |s| ~ 30 at t = 1e-3 -> ~1e-14 absolute
        got = fp.guided_score(VP, P2, "b", 1.0, kind=kind)(X2, t)
        np.testing.assert_allclose(got, s_c, rtol=0, atol=1e-12 * max(1.0, np.abs(s_c).max()))


@pytest.mark.parametrize("w", [0.5, 2.0, 7.0])
def test_classifier_guidance_equals_cfg_for_exact_scores(w):
    for p0, x, label in ((P1, X1, 0), (P2, X2, "a")):
        for t in (1e-3, 0.1, 0.5, 1.0):
            cfg = fp.guided_score(VP, p0, label, w)(x, t)
            clf = fp.guided_score(VP, p0, label, w, kind="classifier")(x, t)
            # two computations (difference of scores vs responsibilities): round-off only
            np.testing.assert_allclose(clf, cfg, rtol=0, atol=1e-11 * max(1.0, np.abs(cfg).max()))


def test_classifier_direction_is_the_gradient_of_the_exact_class_posterior():
    t, w = 0.3, 1.7
    direction = (
        fp.guided_score(VP, P2, "a", w, kind="classifier")(X2, t) - fp.exact_score(VP, P2)(X2, t)
    ) / w

    def log_post(z):
        return _log_class_density(P2, "a", z, t) - _log_class_density(P2, None, z, t)

    np.testing.assert_allclose(direction, _fd_grad(log_post, X2), rtol=1e-5, atol=1e-5)


def test_guided_score_accepts_flat_1d_samples():
    s = fp.guided_score(VP, P1, 1, 2.0)
    np.testing.assert_array_equal(s(X1[:, 0], 0.4), s(X1, 0.4)[:, 0])


# -- the tilted target -----------------------------------------------------------------------------
def test_tilted_density_interpolates_marginal_and_conditional_and_has_the_guided_score_at_t0():
    grid = fp.Grid.uniform(lo=(-6.0, -5.0), hi=(6.0, 6.0), n=(96, 88))
    pts = grid.points()
    for w, law in ((0.0, P2), (1.0, P2.conditional("a"))):
        p = fp.tilted_density(P2, "a", w, grid)
        q = law.pdf(pts).reshape(grid.shape)
        q /= grid.integrate(q)
        np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-14)
    # at t = 0 the guided score is ∇ log p_w (for t > 0 it is not: that is what the study measures)
    x = P2.sample(30, seed=5)
    for w in (0.5, 3.0):
        want = _fd_grad(lambda z, w=w: fp.guidance.tilted_logpdf(P2, "a", w, z), x)
        np.testing.assert_allclose(
            fp.guided_score(VP, P2, "a", w)(x, 0.0), want, rtol=1e-5, atol=1e-5
        )
    p3 = fp.tilted_density(P2, "a", 3.0, grid)
    assert abs(grid.integrate(p3) - 1.0) < 1e-12 and np.all(p3 >= 0)
    # w > 1 moves mass away from class 'b': its component carries less weight than under p(x | a)
    near_b = np.linalg.norm(pts - P2.means[1], axis=1).reshape(grid.shape) < 1.0
    assert grid.integrate(p3 * near_b) < 0.2 * grid.integrate(
        fp.tilted_density(P2, "a", 1.0, grid) * near_b
    )


def test_tilted_density_in_1d_with_large_w_stays_finite():
    grid = fp.Grid.uniform(lo=-8.0, hi=10.0, n=1024)
    p = fp.tilted_density(P1, 0, 50.0, grid)
    assert np.all(np.isfinite(p)) and abs(grid.integrate(p) - 1.0) < 1e-12


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((VP, P2, "c", 1.0), {}, ValueError, "label='c' is not a label.*allowed: 'a', 'b'"),
        ((VP, P2, "a", -0.5), {}, ValueError, "w must be >= 0"),
        ((VP, P2, "a", np.inf), {}, ValueError, "w must be finite"),
        ((VP, P2, "a", 1.0), {"kind": "clf"}, ValueError, "unknown kind 'clf'"),
        (
            (VP, fp.GaussianMixture([1.0], [[0.0]], [1.0]), 0, 1.0),
            {},
            ValueError,
            "labelled mixture",
        ),
        ((VP, "p0", 0, 1.0), {}, TypeError, "GaussianMixture"),
    ],
)
def test_bad_guidance_arguments_raise_naming_the_argument(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fp.guided_score(*args, **kwargs)


def test_exact_score_rejects_an_unknown_label_and_tilted_density_a_wrong_grid():
    with pytest.raises(ValueError, match="label=5 is not a label"):
        fp.exact_score(VP, P1, label=5)
    with pytest.raises(ValueError, match="dimension of p0"):
        fp.tilted_density(P2, "a", 1.0, fp.Grid.uniform(lo=-5.0, hi=5.0, n=64))
