import numpy as np

from fastnn import ops


def test_known_example():
    got = ops.softmax(np.array([[5.0, 2.0, -1.0, 3.0]]))
    np.testing.assert_allclose(got, [[0.842, 0.042, 0.002, 0.114]], atol=5e-4)
    assert abs(got.sum() - 1) < 1e-12


def test_huge_logits_give_finite_loss(dtype):
    z = np.array([[1e8, 0.0, -1e8], [-1e8, 1e8, 1e8], [3e8, -3e8, 0.0]], dtype=dtype)
    loss, dz = ops.softmax_cross_entropy(z, [2, 1, 0])
    assert np.isfinite(loss) and np.all(np.isfinite(dz))
    # row 0 is wrong by 2e8, row 1 splits its mass between two classes, row 2 is right
    np.testing.assert_allclose(loss, (2e8 + np.log(2) + 0.0) / 3, rtol=1e-6)
    assert np.all(np.isfinite(ops.softmax(z))) and np.all(np.isfinite(ops.log_softmax(z)))


def test_two_classes_is_the_sigmoid_of_the_logit_difference(rng, dtype):
    z = (rng.standard_normal((50, 2)) * 4).astype(dtype)
    p = ops.softmax(z)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(p[:, 1], ops.sigmoid(z[:, 1] - z[:, 0]), atol=tol)


def test_rows_sum_to_one_and_log_matches(rng, n_threads):
    z = rng.standard_normal((500, 100)) * 10
    p = ops.softmax(z, n_threads=n_threads)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_allclose(ops.log_softmax(z, n_threads=n_threads), np.log(p), atol=1e-10)


def test_in_place(rng):
    z = rng.standard_normal((5, 4))
    want_log, want = ops.log_softmax(z), ops.softmax(z)
    a, b = z.copy(), z.copy()
    ops.log_softmax(a, out=a)
    ops.softmax(b, out=b)
    np.testing.assert_array_equal(a, want_log)
    np.testing.assert_array_equal(b, want)


def test_loss_of_a_perfect_prediction_tends_to_zero():
    z = np.array([[50.0, 0.0, 0.0]])
    loss, dz = ops.softmax_cross_entropy(z, [0])
    assert 0 <= loss < 1e-20
    np.testing.assert_allclose(dz, 0, atol=1e-20)


def test_correct_count_uses_the_first_argmax_like_numpy(dtype):
    # The fused loss also counts rows whose first argmax is the label
    # (fit's training accuracy); ties go to the first index, as numpy.argmax.
    from fastnn import _kernels

    z = np.array([[1, 1, 0], [0, 2, 2], [3, 1, 3], [0, 0, 5], [7, 7, 7]], dtype=dtype)
    for labels in ([0, 1, 0, 2, 0], [1, 2, 2, 2, 2], [2, 0, 1, 0, 1]):
        labels = np.array(labels, dtype=np.int64)
        _, n_correct = _kernels.network.loss("softmax_cross_entropy", z, labels, None,
                                             float(len(z)), None, (), 1)
        assert n_correct == int(np.sum(np.argmax(z, axis=1) == labels))
    rng = np.random.default_rng(0)
    z = rng.integers(0, 3, (500, 7)).astype(dtype)           # many ties
    labels = rng.integers(0, 7, 500).astype(np.int64)
    assert _kernels.network.loss("softmax_cross_entropy", z, labels, None, float(len(z)), None,
                                 (), 2)[1] == np.sum(z.argmax(1) == labels)
