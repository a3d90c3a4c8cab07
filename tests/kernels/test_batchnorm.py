import numpy as np
import pytest

from fastnn import ops


def test_training_output_is_standardized(rng, dtype, n_threads):
    x = (rng.standard_normal((500, 40)) * 7 + 30).astype(dtype)
    y, mean, rstd = ops.batchnorm_forward(x, np.ones(40, dtype), np.zeros(40, dtype),
                                          n_threads=n_threads)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    var = x.astype(np.float64).var(axis=0)
    np.testing.assert_allclose(y.astype(np.float64).mean(axis=0), 0, atol=tol)
    # variance 1, up to the eps under the square root: var / (var + eps)
    np.testing.assert_allclose(y.astype(np.float64).var(axis=0), var / (var + 1e-5), rtol=tol)
    np.testing.assert_allclose(y.astype(np.float64).var(axis=0), 1, atol=1e-6 + tol)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=0), rtol=tol)


def test_gamma_beta_scale_and_shift(rng):
    x = rng.standard_normal((64, 5))
    gamma, beta = np.arange(1.0, 6.0), np.arange(-2.0, 3.0)
    y, _, _ = ops.batchnorm_forward(x, gamma, beta)
    np.testing.assert_allclose(y.mean(axis=0), beta, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), gamma * np.sqrt(x.var(axis=0) / (x.var(axis=0) + 1e-5)))


def test_large_mean_small_spread_keeps_precision():
    # float32 data far from zero: statistics in double keep the variance right.
    rng = np.random.default_rng(0)
    x = (1e4 + rng.standard_normal((4096, 3))).astype(np.float32)
    _, mean, rstd = ops.batchnorm_forward(x, np.ones(3, np.float32), np.zeros(3, np.float32))
    var = x.astype(np.float64).var(axis=0)
    np.testing.assert_allclose(1 / rstd.astype(np.float64) ** 2, var + 1e-5, rtol=1e-5)


def test_one_row_batch_raises():
    with pytest.raises(ValueError, match="at least 2 samples"):
        ops.batchnorm_forward(np.ones((1, 3)), np.ones(3), np.zeros(3))


def test_running_estimates_follow_the_ewma(rng):
    rm, rv = np.zeros(4), np.ones(4)
    want_m, want_v = rm.copy(), rv.copy()
    for _ in range(5):
        x = rng.standard_normal((10, 4)) * 3 + 2
        ops.batchnorm_forward(x, np.ones(4), np.zeros(4), running_mean=rm, running_var=rv,
                              momentum=0.9)
        want_m = 0.9 * want_m + 0.1 * x.mean(axis=0)
        want_v = 0.9 * want_v + 0.1 * x.var(axis=0, ddof=1)
    np.testing.assert_allclose(rm, want_m)
    np.testing.assert_allclose(rv, want_v)


def test_inference_with_batch_statistics_matches_training(rng):
    # momentum 0: the running estimates become the batch's, and test mode
    # (which uses the unbiased variance) then differs from train mode only
    # by the n / (n - 1) factor; with that factor undone they agree.
    n = 50
    x = rng.standard_normal((n, 6)) * 2 - 1
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    rm, rv = np.zeros(6), np.zeros(6)
    y, _, _ = ops.batchnorm_forward(x, gamma, beta, running_mean=rm, running_var=rv, momentum=0.0)
    y_test = ops.batchnorm_inference(x, gamma, beta, rm, rv * (n - 1) / n)
    np.testing.assert_allclose(y_test, y, rtol=1e-10, atol=1e-12)


def test_fused_relu_equals_relu_after(rng, dtype):
    x = rng.standard_normal((100, 8)).astype(dtype)
    g, b = rng.standard_normal(8).astype(dtype), rng.standard_normal(8).astype(dtype)
    fused = ops.batchnorm_forward(x, g, b, relu=True)[0]
    np.testing.assert_array_equal(fused, ops.relu(ops.batchnorm_forward(x, g, b)[0]))
