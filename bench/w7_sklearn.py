"""W7: fastnn.MLPClassifier / MLPRegressor against scikit-learn's, identical parameters.

Three tables, each fitted by scikit-learn's estimator and by fastnn's with
the same parameters and ``random_state`` (so the same initial weights and
batch orders): the digits (scikit-learn's defaults: one hidden layer of
100, Adam, ``max_iter=200`` with its ``tol`` stopping; pixels / 16,
stratified 25% test split), and a synthetic table of 100,000 x 50
(``make_classification``, 10 classes; ``make_regression`` for the
regressor), ``max_iter=10`` epochs. fastnn runs as scikit-learn does, in
float64 (``dtype=None`` follows X), and once more in float32
(``dtype="float32"``), at fastnn's default thread count and at one thread.
scikit-learn runs with NumPy's BLAS held at one thread (threadpoolctl) and,
on the digits, at its default thread count (on a busy machine that takes
minutes a fit on the large tables); its fastest row is the baseline, and
fastnn's fastest float64 row is compared with it. Fit time: best of the repeats (seeds 0, 1, ...; 3 on the
digits, 2 on the large tables); test score (accuracy or R^2): mean and range over the same repeats.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from context import Context
from report import Table, Target, fmt_ratio, ratio

GOAL = 5.0
REPEATS = 3


def _datasets(ctx: Context):
    from sklearn.datasets import load_digits, make_classification, make_regression
    from sklearn.model_selection import train_test_split

    n = 10_000 if ctx.quick else 100_000
    X, y = load_digits(return_X_y=True)
    digits = train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)
    X, y = make_classification(n_samples=n + n // 4, n_features=50, n_informative=30,
                               n_classes=10, random_state=0)
    table_cls = train_test_split(X, y, test_size=n // 4, random_state=0)
    X, y = make_regression(n_samples=n + n // 4, n_features=50, n_informative=30, noise=10.0,
                           random_state=0)
    y = (y - y.mean()) / y.std()
    table_reg = train_test_split(X, y, test_size=n // 4, random_state=0)
    epochs = 3 if ctx.quick else 10
    return [
        ("digits, MLPClassifier defaults", "classifier", digits, {}),
        (f"{n:,} x 50, 10 classes, MLPClassifier, {epochs} epochs", "classifier", table_cls,
         {"max_iter": epochs}),
        (f"{n:,} x 50, MLPRegressor, {epochs} epochs", "regressor", table_reg,
         {"max_iter": epochs}),
    ]


def _fit(cls, params, data, blas_threads=None) -> tuple[float, float]:
    from threadpoolctl import threadpool_limits

    X_tr, X_te, y_tr, y_te = data
    model = cls(**params)
    with warnings.catch_warnings(), threadpool_limits(blas_threads, user_api="blas"):
        warnings.simplefilter("ignore")          # ConvergenceWarning at max_iter
        start = time.perf_counter()
        model.fit(X_tr, y_tr)
        seconds = time.perf_counter() - start
    return seconds, model.score(X_te, y_te)


def run(ctx: Context) -> tuple[list[Table], list[Target]]:
    try:
        from sklearn import neural_network as sknn
    except ImportError:
        table = Table("W7: scikit-learn drop-in", ["candidate"])
        table.notes.append("scikit-learn is not installed: W7 skipped.")
        return [table], []
    import fastnn

    tables, targets = [], []
    for title, kind, data, extra in _datasets(ctx):
        # the large tables take scikit-learn about a minute a fit: 2 repeats
        repeats = 1 if ctx.quick else REPEATS if "max_iter" not in extra else 2
        names = {"classifier": "MLPClassifier", "regressor": "MLPRegressor"}
        ours, theirs = getattr(fastnn, names[kind]), getattr(sknn, names[kind])
        candidates = {"scikit-learn (BLAS 1 thread)": (theirs, {}, 1)}
        if "max_iter" not in extra:      # default BLAS threads: minutes a fit on a busy machine
            candidates["scikit-learn"] = (theirs, {}, None)
        candidates.update({
            "fastnn float64, default threads": (ours, {}, None),
            "fastnn float64, 1 thread": (ours, {"n_threads": 1}, None),
            "fastnn float32, 1 thread": (ours, {"dtype": "float32", "n_threads": 1}, None),
        })
        times = {k: [] for k in candidates}
        scores = {k: [] for k in candidates}
        for seed in range(repeats):
            for key, (cls, own, blas) in candidates.items():
                seconds, score = _fit(cls, {"random_state": seed, **extra, **own}, data, blas)
                times[key].append(seconds)
                scores[key].append(score)
        metric = "accuracy" if kind == "classifier" else "R^2"
        table = Table(f"W7: {title}", ["candidate", "fit time (s, best)", "speed-up",
                                       f"test {metric} (mean)", f"{metric} range"])
        base = min(min(v) for k, v in times.items() if k.startswith("scikit-learn"))
        ours64 = min(min(v) for k, v in times.items() if k.startswith("fastnn float64"))
        for key in candidates:
            table.add(key, f"{min(times[key]):.3f}", fmt_ratio(ratio(base, min(times[key]))),
                      f"{np.mean(scores[key]):.4f}",
                      f"{min(scores[key]):.4f} - {max(scores[key]):.4f}")
        table.notes.append(
            f"{len(data[0]):,} training / {len(data[1]):,} test rows; identical parameters "
            f"and random_state (seeds 0..{repeats - 1}); best fit time of {repeats}; "
            "speed-up against the fastest scikit-learn row.")
        tables.append(table)
        rel = ratio(base, ours64)
        targets.append(Target(f"W7 {title}", f"float64 {ours64:.2f} s",
                              f"scikit-learn best {base:.2f} s", rel, GOAL, fmt_ratio(rel),
                              f">= {GOAL}x at equal score"))
    return tables, targets
