"""Score networks of fp.nn: DSM training, parameterisations end to end, seeds, checkpoints and resume.

Models are tiny (32x2, a few hundred steps); thresholds sit between what a correct run reaches
(measured, quoted at each assert) and what a wrong sign, a broken loss or a wrong conversion gives
(relative errors of order 1).
"""

from __future__ import annotations

import numpy as np
import pytest

import fplab as fp
from tests.problems import BIMODAL_1D, BIMODAL_2D

torch = pytest.importorskip("torch")

from fplab.nn.evaluate import exact_reference, score_error_vs_t  # noqa: E402
from fplab.nn.train import stf_target  # noqa: E402

TINY = {"hidden": 32, "depth": 2, "batch_size": 256, "lr": 5e-3, "ema_decay": 0.99}
VP = fp.VP(beta_min=0.1, beta_max=20.0, T=1.0)
LINE = fp.Grid.uniform(lo=-6.0, hi=6.0, n=240)


def _state(model):
    return {k: v.clone() for k, v in model.net.state_dict().items()}


@pytest.mark.parametrize("parameterisation", ["eps", "x0", "v", "score"])
def test_each_parameterisation_learns_the_vp_score(parameterisation):
    model = fp.nn.train_score(
        VP, BIMODAL_1D, n_steps=300, parameterisation=parameterisation, **TINY
    )
    curve = score_error_vs_t(model, exact_reference(VP, BIMODAL_1D, LINE), [0.6, 0.9])
    # measured 300 steps: rel L2 0.02-0.08 at t=0.6, 0.007-0.07 at t=0.9; a wrong sign in any
    # conversion gives ~2, a missing 1/σ ~0.5-1
    assert np.all(curve.rel_l2 < 0.15), curve.rel_l2


@pytest.mark.parametrize(
    ("sde", "weighting", "times"),
    [(fp.VE(sigma_min=0.01, sigma_max=5.0), "sigma2", [0.9]), (fp.SubVP(), "g2", [0.5, 0.7])],
    ids=["ve", "subvp"],
)
def test_dsm_learns_ve_and_subvp_scores_in_2d(sde, weighting, times):
    model = fp.nn.train_score(sde, BIMODAL_2D, n_steps=300, weighting=weighting, **TINY)
    square = fp.Grid.uniform(lo=(-8.0, -8.0), hi=(8.0, 8.0), n=(48, 48))
    curve = score_error_vs_t(model, exact_reference(sde, BIMODAL_2D, square), times)
    # measured after 300 steps: VE 0.06 at t=0.9; SubVP 0.07, 0.07 at t=0.5, 0.7 (small-σ times
    # need longer training: VE at t=0.5 is still 0.6); a broken loss or sign gives ~1
    assert np.all(curve.rel_l2 < 0.15), curve.rel_l2


def test_training_is_a_function_of_the_seed():
    a = fp.nn.train_score(VP, BIMODAL_1D, n_steps=20, seed=3, **TINY)
    b = fp.nn.train_score(VP, BIMODAL_1D, n_steps=20, seed=3, **TINY)
    c = fp.nn.train_score(VP, BIMODAL_1D, n_steps=20, seed=4, **TINY)
    for k, v in _state(a).items():
        assert torch.equal(v, _state(b)[k])
    assert not all(torch.equal(v, _state(c)[k]) for k, v in _state(a).items())
    np.testing.assert_array_equal(a.losses, b.losses)


def test_interrupted_run_resumes_to_identical_weights(tmp_path):
    straight = fp.nn.train_score(VP, BIMODAL_1D, n_steps=40, **TINY)
    path = tmp_path / "run.pt"

    class Interrupt(Exception):
        pass

    def stop_at_20(step, loss):
        if step == 20:
            raise Interrupt

    with pytest.raises(Interrupt):
        fp.nn.train_score(
            VP,
            BIMODAL_1D,
            n_steps=40,
            checkpoint=path,
            checkpoint_every=10,
            callback=stop_at_20,
            **TINY,
        )
    steps_run = []
    resumed = fp.nn.train_score(
        VP,
        BIMODAL_1D,
        n_steps=40,
        checkpoint=path,
        checkpoint_every=10,
        resume=True,
        callback=lambda s, loss: steps_run.append(s),
        **TINY,
    )
    assert steps_run == list(range(21, 41))  # no finished step repeated
    for k, v in _state(straight).items():
        assert torch.equal(v, _state(resumed)[k]), k
    np.testing.assert_array_equal(straight.losses, resumed.losses)


def test_resume_refuses_a_different_configuration(tmp_path):
    path = tmp_path / "run.pt"
    fp.nn.train_score(VP, BIMODAL_1D, n_steps=10, checkpoint=path, **TINY)
    with pytest.raises(ValueError, match="lr"):
        fp.nn.train_score(
            VP, BIMODAL_1D, n_steps=10, checkpoint=path, resume=True, **{**TINY, "lr": 1e-3}
        )


def test_checkpoint_round_trip_gives_the_same_score(tmp_path):
    model = fp.nn.train_score(VP, BIMODAL_1D, n_steps=20, parameterisation="v", **TINY)
    model.save(tmp_path / "m.pt")
    loaded = fp.nn.load_checkpoint(tmp_path / "m.pt")
    x = np.linspace(-3, 3, 11)
    np.testing.assert_array_equal(loaded(x, 0.4), model(x, 0.4))
    np.testing.assert_array_equal(model(x, np.full(11, 0.4)), model(x, 0.4))  # per-sample times
    assert model(x.reshape(-1, 1), 0.4).shape == (11, 1) and model(x, 0.4).shape == (11,)
    assert loaded.config == model.config
    assert loaded.sde.params() == VP.params()


def test_learned_score_drives_sample_reverse():
    # a unimodal law: a tiny model learns its score at every t within 400 steps
    p0 = fp.GaussianMixture([1.0], [[0.8]], [[[0.3]]])
    model = fp.nn.train_score(VP, p0, n_steps=400, **TINY)
    exact = fp.exact_score(VP, p0)
    x_T = np.random.default_rng(1).standard_normal((2000, 1))
    target = p0.ppf((np.arange(4000) + 0.5) / 4000)
    run = lambda s: fp.sample_reverse(VP, s, x_T, n_steps=50, method="pf-ode-heun")  # noqa: E731
    w2_learned = fp.metrics.w2(run(model), target)
    w2_exact = fp.metrics.w2(run(exact), target)
    # measured W2 learned / exact: see the assert; a wrong-sign score sends samples off to ~1e2
    assert w2_learned < 2.0 * w2_exact + 0.05, (w2_learned, w2_exact)
    assert fp.metrics.w2(run(lambda y, t: -model(y, t)), target) > 1.0


def test_stf_target_is_the_posterior_mean_noise_for_a_gaussian(rng):
    # data N(μ, v): E[ε | x_t] = -σ s(x_t) exactly; the STF target with a large reference set
    # estimates it with error ~ 1/sqrt(n_ref)
    mu, v = 0.5, 0.3
    t = np.array([0.2, 0.5, 0.8])
    from fplab.nn.params import marginal_coefficients_array

    alpha, sigma, c = marginal_coefficients_array(VP, t)
    xt = np.array([[0.1], [-0.4], [0.9]])
    ref = mu + np.sqrt(v) * rng.standard_normal((200_000, 1))
    got = stf_target(xt, ref[:3], ref[3:], alpha, sigma, c)
    s = -(xt - alpha[:, None] * mu) / (alpha[:, None] ** 2 * v + sigma[:, None] ** 2)
    np.testing.assert_allclose(got, -sigma[:, None] * s, atol=0.02)


def test_bad_arguments_are_rejected_with_their_names():
    with pytest.raises(TypeError, match="linear SDE"):
        fp.nn.train_score(fp.DoubleWell(), BIMODAL_1D, n_steps=1)
    with pytest.raises(TypeError, match="data"):
        fp.nn.train_score(VP, "samples.npy", n_steps=1)
    with pytest.raises(ValueError, match="unknown training option"):
        fp.nn.train_score(VP, BIMODAL_1D, n_step=1)
    with pytest.raises(ValueError, match="parameterisation"):
        fp.nn.train_score(VP, BIMODAL_1D, parameterisation="noise")
    with pytest.raises(ValueError, match="weighting"):
        fp.nn.train_score(VP, BIMODAL_1D, weighting="sigma")
    with pytest.raises(ValueError, match="device"):
        fp.nn.train_score(VP, BIMODAL_1D, n_steps=1, device="tpu")
    with pytest.raises(ValueError, match=r"dimension|dimensional"):
        fp.nn.train_score(fp.OU(mu=(0.0, 0.0)), BIMODAL_1D, n_steps=1)


def test_array_data_trains_and_is_fingerprinted(tmp_path):
    samples = BIMODAL_1D.sample(5000, seed=0)
    path = tmp_path / "a.pt"
    model = fp.nn.train_score(VP, samples, n_steps=10, checkpoint=path, **TINY)
    assert model(samples[:5], 0.5).shape == (5, 1)
    with pytest.raises(ValueError, match="data differ"):
        fp.nn.train_score(VP, samples[:-1], n_steps=10, checkpoint=path, resume=True, **TINY)


def test_cuda_request_without_a_device_is_an_error():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="CUDA"):
        fp.nn.train_score(VP, BIMODAL_1D, n_steps=1, device="cuda")
    with pytest.raises(RuntimeError, match="CUDA"):
        fp.nn.resolve_device("cuda:0")


def test_device_argument_reaches_the_tensors():
    model = fp.nn.train_score(VP, BIMODAL_1D, n_steps=2, device=torch.device("cpu"), **TINY)
    assert all(p.device.type == "cpu" for p in model.net.parameters())
    assert model.device == torch.device("cpu")


@pytest.mark.gpu
def test_cuda_training_matches_cpu_quality():
    model = fp.nn.train_score(VP, BIMODAL_1D, n_steps=300, device="cuda", **TINY)
    assert next(model.net.parameters()).device.type == "cuda"
    curve = score_error_vs_t(model, exact_reference(VP, BIMODAL_1D, LINE), [0.6, 0.9])
    assert np.all(curve.rel_l2 < 0.15)
