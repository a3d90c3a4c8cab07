"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor`` on fastnn's engine.

A drop-in: the same constructor parameters, defaults, fitted attributes,
warnings and formulas as ``sklearn.neural_network``, trained by fastnn's
compiled epoch::

    # from sklearn.neural_network import MLPClassifier
    from fastnn import MLPClassifier

What is the same (scikit-learn 1.6 and later):

- the network: Dense layers with ``activation`` between them, a softmax
  output for several classes, a logistic output for two classes and for
  multi-label targets, an identity output for regression (``exp`` for
  ``loss="poisson"``); Glorot-uniform initialization drawn from
  ``random_state`` in scikit-learn's order, so the same ``random_state``
  gives the same initial weights, validation split and batch orders;
- the loss: log loss, half the squared error or half the Poisson deviance
  (fastnn's ``poisson`` loss, log link), each a (weighted) mean
  over the batch's rows and summed over outputs as scikit-learn sums them,
  plus ``alpha / (2 * batch_weight) * sum(W**2)`` for each mini-batch
  (``batch_weight``: its rows, or the sum of their sample weights);
- the solvers: ``"adam"`` (scikit-learn's form of Adam), ``"sgd"`` with
  momentum, Nesterov's momentum and the ``constant``, ``invscaling`` and
  ``adaptive`` schedules, and ``"lbfgs"`` (``scipy.optimize``'s L-BFGS-B on
  the full-batch loss and gradient); ``tol``, ``n_iter_no_change``,
  ``early_stopping`` and ``validation_fraction`` stop training as they do in
  scikit-learn, with the same ``ConvergenceWarning``.

How it runs: mini-batch epochs run in fastnn's compiled epoch (one call
without the GIL) whenever the update is one of its rules: Adam, and SGD with
plain or Nesterov's momentum (scikit-learn's ``v = momentum * v - lr * g``,
``w += v`` is fastnn's momentum rule with its learning rate rescaled, its
Nesterov step fastnn's nesterov rule). With sample weights the L2 term
changes from batch to batch (alpha over the batch's weight): the compiled
epoch sets each batch's weight decay so. Only momentum 1, and epochs with a
batch whose weights are all 0, run batch by batch from Python, each batch's
forward and backward pass still compiled. Sparse ``X`` is densified a chunk of batches (about
8 MB) at a time, never more: once for the whole fit when it fits in one
chunk, else chunk by chunk in each epoch.

What differs, knowingly:

- Adam's ``epsilon``: scikit-learn adds it to ``sqrt(v)``, fastnn's rule
  to ``sqrt(v / (1 - beta_2**t))``, so the rule's epsilon is rescaled by
  ``sqrt(1 - beta_2**t)`` and re-set whenever that has moved by 5% (a few
  dozen times over a fit): the weights agree with scikit-learn's to about
  1e-7 (relative), not to the last bit;
- in the compiled epoch, the L2 part of ``loss_curve_`` takes the mean of
  the weights' squared norm at the start and the end of the epoch, not the
  norm before each batch (the training itself is not affected);
- the log loss of ``loss_`` is not clipped at the float resolution;
- a batch whose sample weights are all 0 is skipped (scikit-learn divides
  by 0).

fastnn's own parameters, whose defaults leave scikit-learn's model
unchanged: ``batch_norm``, ``bn_position``, ``dropout``, ``n_threads`` and
``dtype``.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

try:
    import scipy.optimize
    import scipy.sparse
    from scipy.special import xlogy
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state, column_or_1d, gen_batches
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:            # pragma: no cover - depends on the environment
    raise ImportError("fastnn.MLPClassifier and fastnn.MLPRegressor need scikit-learn 1.6 or "
                      "later: pip install 'scikit-learn>=1.6'") from exc

from fastnn import _estimator_params as P
from fastnn import engine, kinds
from fastnn import layers as L
from fastnn._threads import blas_held, resolve_n_threads
from fastnn.model import Sequential
from fastnn.optim import SGD, Adam, Momentum, Nesterov

__all__ = ["MLPClassifier", "MLPRegressor"]

_STOCHASTIC = ("sgd", "adam")
# scikit-learn's activations: the rows of fastnn/kinds.py with a scikit-learn name, and identity
_ACTIVATIONS = {"identity": None, **{row.sklearn: L.ACTIVATIONS[row.name]
                                      for row in kinds.ACTIVATIONS if row.sklearn}}
_EPS_DRIFT = 0.05         # how far Adam's epsilon may drift (relative) within one compiled run
_CHUNK_BYTES = 8 << 20    # rows densified at a time from sparse X, and rows per L-BFGS pass
# scikit-learn's output activation, fastnn's loss (its row in fastnn/kinds.py), and how that
# loss's value and gradient relate to scikit-learn's for k outputs:
# sk_loss = f_loss * LOSS_SCALE, f_grad = sk_grad * GRAD_SCALE
_OUTPUTS = {row.sklearn[0]: (row.name, *row.sklearn[1:]) for row in kinds.LOSSES if row.sklearn}


# ---------------------------------------------------------------- helpers

def _chunk_rows(n_features: int, dtype) -> int:
    """Rows of a densified chunk: about _CHUNK_BYTES."""
    return max(256, _CHUNK_BYTES // (n_features * np.dtype(dtype).itemsize))


def _check_sample_weight(sample_weight, n_samples: int, dtype) -> np.ndarray | None:
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_samples, sample_weight)
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must hold numbers; got dtype {w.dtype}")
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n_samples,)}!")
    w = np.array(w, dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must hold finite values >= 0")
    if not w.sum() > 0:
        raise ValueError("sample_weight must contain at least one non-zero number")
    return w


# ---------------------------------------------------------------- the solvers

class _Stochastic:
    """scikit-learn's SGD or Adam optimizer as fastnn update rules.

    fastnn's gradient of a batch is ``scale`` times scikit-learn's; its
    weight decay adds ``weight_decay * W`` to it. So scikit-learn's step on
    a batch of weight ``S`` is fastnn's rule with ``weight_decay = scale *
    alpha / S`` and:

    - Adam: ``lr = learning_rate_init``, ``eps = scale * epsilon / sqrt(1 -
      beta_2**t)`` (scikit-learn adds epsilon to the raw ``sqrt(v)``);
    - SGD, momentum ``mu`` in (0, 1), no Nesterov: fastnn's momentum rule
      ``v = mu * v + (1 - mu) * g``, ``w -= lr' * v`` with ``lr' = lr / ((1 -
      mu) * scale)``; its ``v`` is ``-(1 - mu) * scale / lr`` times
      scikit-learn's velocity, rescaled when the learning rate changes;
    - SGD with Nesterov's momentum ``mu`` in (0, 1): fastnn's nesterov rule
      ``v = mu * v + g``, ``w -= lr' * (g + mu * v)`` with ``lr' = lr /
      scale``; its ``v`` is ``-scale / lr`` times scikit-learn's velocity,
      rescaled when the learning rate changes;
    - SGD without momentum: ``w -= (lr / scale) * g``;
    - momentum 1: no rule does it; ``numpy_step`` updates the flat arrays in
      NumPy with scikit-learn's formulas.
    """

    def __init__(self, est, model, scale: float):
        self.solver, self.scale, self.alpha = est.solver, scale, float(est.alpha)
        self.lr = float(est.learning_rate_init)
        self.lr_init, self.schedule, self.power_t = self.lr, est.learning_rate, est.power_t
        self.momentum, self.beta_2, self.epsilon = float(est.momentum), est.beta_2, est.epsilon
        self.python = self.solver == "sgd" and self.momentum >= 1
        self.nesterov = bool(est.nesterovs_momentum)
        self.steps = 0                       # steps taken by numpy_step
        if self.solver == "adam":
            self.opt = Adam(lr=self.lr, beta1=est.beta_1, beta2=est.beta_2, eps=est.epsilon)
        elif self.python:
            self.opt = None
            self.velocity = np.zeros_like(model.engine.params)
        elif self.momentum > 0 and self.nesterov:
            self.opt = Nesterov(lr=self._fastnn_lr(), momentum=self.momentum)
        elif self.momentum > 0:
            self.opt = Momentum(lr=self._fastnn_lr(), beta=self.momentum)
        else:
            self.opt = SGD(lr=self._fastnn_lr())

    def _fastnn_lr(self) -> float:
        if self.nesterov:
            return self.lr / self.scale
        return self.lr / ((1.0 - self.momentum) * self.scale)

    def prepare(self, batch_weight: float) -> None:
        """Set the rule for the next step, on a batch of this weight."""
        if self.opt is None:
            return
        self.opt.weight_decay = self.scale * self.alpha / batch_weight
        if self.solver == "adam":
            t = self.opt.t + 1
            self.opt.eps = self.scale * self.epsilon / math.sqrt(1.0 - self.beta_2 ** t)
        else:
            self.opt.lr = self._fastnn_lr()

    def segments(self, lo: int, hi: int):
        """Runs of batches ``[k0, k1)`` over which one fastnn rule stands for scikit-learn's
        steps: all of them, except for Adam, whose epsilon (``scale * epsilon / sqrt(1 -
        beta_2**t)``) changes with the step ``t``: a run ends before it has moved by
        ``_EPS_DRIFT`` (relative), a few dozen runs over a whole fit."""
        k = lo
        while k < hi:
            j = hi - k
            if self.solver == "adam" and 0 < self.beta_2:
                t0 = self.opt.t + 1 + (k - lo)
                limit = (1.0 + _EPS_DRIFT) ** 2 * (1.0 - self.beta_2 ** t0)
                if limit < 1.0:
                    last = math.floor(math.log1p(-limit) / math.log(self.beta_2))
                    j = max(1, min(j, last - t0 + 1))
            yield k, k + j
            k += j

    def numpy_step(self, params: np.ndarray, grads: np.ndarray, decayed, batch_weight) -> None:
        """scikit-learn's SGD step with momentum 1 (Nesterov's or not), in NumPy."""
        g = grads / self.scale
        for lo, hi in decayed:
            g[lo:hi] += (self.alpha / batch_weight) * params[lo:hi]
        v = self.velocity
        v *= self.momentum
        v -= self.lr * g
        if self.nesterov:
            params += self.momentum * v - self.lr * g
        else:
            params += v

    def set_lr(self, lr: float) -> None:
        """A new learning rate (schedules); fastnn's momentum state follows it."""
        if isinstance(self.opt, (Momentum, Nesterov)):
            for slots in self.opt.slot_arrays():
                slots["velocity"] *= self.lr / lr
        self.lr = lr

    def iteration_ends(self, time_step: int) -> None:
        if self.solver == "sgd" and self.schedule == "invscaling":
            self.set_lr(self.lr_init / (time_step + 1) ** self.power_t)

    def trigger_stopping(self, msg: str, verbose) -> bool:
        if self.solver == "adam" or self.schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.lr <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.set_lr(self.lr / 5.0)
        if verbose:
            print(msg + f" Setting learning rate to {self.lr:f}")
        return False

    @property
    def learning_rate(self) -> float:
        return self.lr


# ---------------------------------------------------------------- the estimators

class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share; see their docstrings."""

    _parameter_constraints: dict = P.CONSTRAINTS

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 batch_norm=False, bn_position="before", dropout=0.0, n_threads=None,
                 dtype=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.batch_norm = batch_norm
        self.bn_position = bn_position
        self.dropout = dropout
        self.n_threads = n_threads
        self.dtype = dtype

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # ------------------------------------------------------------ weights
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices, ``coefs_[i]`` of shape (units of layer i, units of layer i + 1):
        views of the model's parameters (writing them changes the model)."""
        if not hasattr(self, "model_"):
            raise AttributeError("coefs_ exists once the estimator is fitted")
        return [layer.params["W"] for layer in self._dense_layers()]

    @coefs_.setter
    def coefs_(self, values) -> None:
        for view, value in zip(self.coefs_, values, strict=True):
            view[...] = value

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, ``intercepts_[i]`` of shape (units of layer i + 1,); views of the
        model's parameters (zeros, not views, for a layer followed by batch norm)."""
        if not hasattr(self, "model_"):
            raise AttributeError("intercepts_ exists once the estimator is fitted")
        return [layer.params.get("b", np.zeros(layer.n_out, self.model_.dtype))
                for layer in self._dense_layers()]

    @intercepts_.setter
    def intercepts_(self, values) -> None:
        for view, value in zip(self.intercepts_, values, strict=True):
            view[...] = value

    def _dense_layers(self):
        return [x for x in self.model_.layers if isinstance(x, L.Dense)]

    # ------------------------------------------------------------ building
    def _output(self) -> str:
        raise NotImplementedError

    def _initialize(self, y2d: np.ndarray, layer_units: list[int], dtype) -> None:
        """A new network, initialized as scikit-learn initializes its own."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y2d.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output()
        loss = _OUTPUTS[self.out_activation_][0]
        layers: list[L.Layer] = []
        act = _ACTIVATIONS[self.activation]
        for width in layer_units[1:-1]:
            layers.append(L.Dense(width, bias=None if self.batch_norm else True,
                                  init="xavier"))
            if self.batch_norm and self.bn_position == "before":
                layers.append(L.BatchNorm())
            if act is not None:
                layers.append(act())
            if self.batch_norm and self.bn_position == "after":
                layers.append(L.BatchNorm())
            if self.dropout > 0:
                layers.append(L.Dropout(self.dropout))
        layers.append(L.Dense(self.n_outputs_, bias=True, init="xavier"))
        if self.out_activation_ == "softmax":
            layers.append(L.Softmax())
        elif self.out_activation_ == "logistic":
            layers.append(L.Sigmoid())
        model = Sequential(layers, loss=loss, dtype=dtype, n_threads=self.n_threads)
        model.build(layer_units[0], self.n_outputs_)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for layer, (fan_in, fan_out) in zip(self._dense_of(model), zip(layer_units, layer_units[1:])):
            bound = np.sqrt(factor / (fan_in + fan_out))
            layer.params["W"][...] = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            intercept = self._random_state.uniform(-bound, bound, fan_out)
            if "b" in layer.params:
                layer.params["b"][...] = intercept
        if model.has_dropout:
            model.seed_dropout(np.random.default_rng(self._random_state.randint(2**31)))
        self.model_ = model
        self._best_weights = model.get_weights()
        if self.solver in _STOCHASTIC:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    @staticmethod
    def _dense_of(model):
        return [x for x in model.layers if isinstance(x, L.Dense)]

    def _scales(self) -> tuple[float, float]:
        _, loss_scale, grad_scale = _OUTPUTS[self.out_activation_]
        return loss_scale(self.n_outputs_), grad_scale(self.n_outputs_)

    def _loss_offset(self, targets: np.ndarray, weight=None) -> float:
        """What scikit-learn's loss adds to fastnn's (times its scale): the terms of half the
        Poisson deviance free of the output, ``sum_k mean_i (y log y - y)``; 0 otherwise."""
        if self.out_activation_ != "exp":
            return 0.0
        t = targets.astype(np.float64)
        return float(np.sum(np.average(xlogy(t, t) - t, axis=0, weights=weight)))

    def _targets(self, y2d: np.ndarray) -> np.ndarray:
        """Targets in the kernel's form: int64 class indices (softmax) or floats (n, k)."""
        if self.out_activation_ == "softmax":
            return np.ascontiguousarray(np.argmax(y2d, axis=1), dtype=np.int64)
        return np.ascontiguousarray(y2d, dtype=self.model_.dtype)

    def _as_model_input(self, X):
        if scipy.sparse.issparse(X):
            return X.tocsr()
        return np.ascontiguousarray(X, dtype=self.model_.dtype)

    # ------------------------------------------------------------ fit
    def _fit(self, X, y, sample_weight=None, incremental=False):
        self._validate_params()          # scikit-learn's check of _parameter_constraints
        hidden = P.check_params(self, incremental, getattr(self, "_architecture_", None))
        first_pass = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        n_samples, n_features = X.shape
        sample_weight = _check_sample_weight(sample_weight, n_samples, X.dtype)
        y2d = y.reshape((-1, 1)) if y.ndim == 1 else y
        self.n_outputs_ = y2d.shape[1]
        layer_units = [n_features] + hidden + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            dtype = X.dtype if self.dtype is None else np.dtype(self.dtype)
            self._initialize(y2d, layer_units, dtype)
            self._architecture_ = P.architecture(self)
        elif self.model_.n_outputs != self.n_outputs_:
            raise ValueError(f"y has {self.n_outputs_} outputs but the fitted network has "
                             f"{self.model_.n_outputs}")
        if self.batch_norm and self.solver == "lbfgs":
            raise ValueError("batch_norm=True needs a stochastic solver ('adam' or 'sgd'), "
                             "not 'lbfgs'")
        if self.solver in _STOCHASTIC:
            self._fit_stochastic(X, y2d, sample_weight, incremental)
        else:
            self._fit_lbfgs(X, y2d, sample_weight)
        if not np.isfinite(self.model_.engine.params).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.")
        names = getattr(self, "feature_names_in_", None)
        self.model_.feature_names_in_ = None if names is None else [str(n) for n in names]
        return self

    def _batches(self, n_samples: int, batch_size: int) -> np.ndarray:
        """Batch boundaries as scikit-learn's gen_batches cuts them (a trailing batch of one
        row joins the one before it when batch norm needs two rows)."""
        bounds = [s.start for s in gen_batches(n_samples, batch_size)] + [n_samples]
        if self.batch_norm and len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
            del bounds[-2]
        return np.array(bounds, dtype=np.int64)

    def _fit_stochastic(self, X, y2d, sample_weight, incremental):
        model = self.model_
        loss_scale, grad_scale = self._scales()
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = _Stochastic(self, model, grad_scale)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            stratify = y2d if self._is_classifier() and self.n_outputs_ == 1 else None
            parts = train_test_split(X, y2d, *([] if sample_weight is None else [sample_weight]),
                                     random_state=self._random_state,
                                     test_size=self.validation_fraction, stratify=stratify)
            X_train, X_val, y_train, y_val = parts[:4]
            sw_train, sw_val = (None, None) if sample_weight is None else parts[4:]
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            if self._is_classifier():
                y_val = self._label_binarizer.inverse_transform(y_val)
        else:
            X_train, y_train, sw_train = X, y2d, sample_weight
            X_val = y_val = sw_val = None
        n_samples = X_train.shape[0]
        if self.batch_norm and n_samples < 2:
            raise ValueError("batch_norm=True needs at least 2 training samples")
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        if self.batch_norm and batch_size < 2:
            raise ValueError("batch_size must be at least 2 with batch_norm=True")
        Xt = self._as_model_input(X_train)
        if scipy.sparse.issparse(Xt) and n_samples <= _chunk_rows(Xt.shape[1], model.dtype):
            # it fits in one densified chunk: densify it once, not again each epoch
            Xt = np.ascontiguousarray(Xt.toarray(), dtype=model.dtype)
        targets = self._targets(y_train)
        bounds = self._batches(n_samples, batch_size)
        sample_idx = np.arange(n_samples, dtype=np.int64)
        offset = self._loss_offset(targets) if sw_train is None else 0.0
        plan = self._epoch_plan(bounds)
        blas_held.__enter__()               # BLAS at one thread for the whole fit, not per epoch
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:            # sklearn.utils.shuffle's draw, without its checks
                    perm = np.arange(n_samples)
                    self._random_state.shuffle(perm)
                    sample_idx = sample_idx[perm]
                self.loss_ = self._epoch(Xt, targets, sw_train, sample_idx, bounds, loss_scale,
                                         offset, plan)
                self.n_iter_ += 1
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                self._update_no_improvement_count(early_stopping, X_val, y_val, sw_val)
                self._optimizer.iteration_ends(self.t_)
                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        msg = ("Validation score did not improve more than tol=%f for %d "
                               "consecutive epochs." % (self.tol, self.n_iter_no_change))
                    else:
                        msg = ("Training loss did not improve more than tol=%f for %d "
                               "consecutive epochs." % (self.tol, self.n_iter_no_change))
                    if self._optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and "
                                  "the optimization hasn't converged yet." % self.max_iter,
                                  ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        finally:
            blas_held.__exit__(None, None, None)
        if early_stopping:
            model.set_weights(self._best_weights)

    def _update_no_improvement_count(self, early_stopping, X_val, y_val, sw_val):
        if early_stopping:
            score = self._score(X_val, y_val, sw_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_weights = self.model_.get_weights()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _l2(self, weights) -> float:
        """0.5 * alpha * sum of the squared weights (scikit-learn's L2 term times the
        batch weight); ``weights``: views of the decayed segments of the flat parameters,
        as :meth:`_epoch_plan` keeps them."""
        return 0.5 * float(self.alpha) * sum(float(np.dot(w, w)) for w in weights)

    def _epoch_plan(self, bounds) -> dict:
        """What every epoch of one fit shares, worked out once: a fit of scikit-learn's
        checks runs up to max_iter epochs of a few batches each, and looking these up
        again in each epoch took about as long as the compiled epoch itself."""
        model = self.model_
        sizes = np.diff(bounds)
        p = model.engine.params
        return {
            "threads": model.engine.threads_for_training(int(sizes[0]) if len(sizes) else None),
            "sizes": sizes.tolist(),
            # every batch but a shorter last one: one weight decay; that last one: its own
            "cut": len(sizes) - 1 if len(sizes) > 1 and sizes[-1] != sizes[0] else len(sizes),
            "weights": [p[lo:hi] for lo, hi in model.engine.decayed_segments()],
            "l2": None,           # the L2 term as the last epoch left the weights
        }

    def _epoch(self, X, targets, sw, order, bounds, loss_scale, offset, plan) -> float:
        """One epoch over the batches ``order[bounds[k]:bounds[k + 1]]``; scikit-learn's
        ``loss_`` of it (``offset``: :meth:`_loss_offset` of all the targets; ``plan``:
        :meth:`_epoch_plan`)."""
        solver = self._optimizer
        totals = None
        if sw is not None:        # each batch's weight: its L2 term is alpha over it
            totals = np.add.reduceat(sw[order], bounds[:-1])
        if solver.python or (totals is not None and not (totals > 0).all()):
            # momentum 1, or a batch whose weights are all 0 (skipped, not a zero step)
            return self._epoch_by_batch(X, targets, sw, order, bounds, loss_scale, plan)
        n, sizes, cut = X.shape[0], plan["sizes"], plan["cut"]
        l2_start = 0.0
        if self.alpha:            # nothing moves the weights between two epochs of a fit
            l2_start = self._l2(plan["weights"]) if plan["l2"] is None else plan["l2"]
        loss_sum = 0.0
        with blas_held:
            for lo_b, hi_b in ((0, cut), (cut, len(sizes))):
                for k0, k1 in solver.segments(lo_b, hi_b):
                    solver.prepare(float(sizes[k0]))
                    loss_sum += self._run(X, targets, sw, order, bounds[k0:k1 + 1], solver,
                                          plan["threads"])
        l2, per_weight = 0.0, len(sizes)
        if totals is not None:    # sum over batches of rows / weight; the offset batch by batch
            per_weight = float(np.sum(np.diff(bounds) / totals))
            offset = self._weighted_offsets(targets, sw, order, bounds, totals) / n
        if self.alpha:
            plan["l2"] = self._l2(plan["weights"])
            l2 = 0.5 * (l2_start + plan["l2"]) * per_weight
        return (loss_sum * loss_scale + l2) / n + offset

    def _weighted_offsets(self, targets, sw, order, bounds, totals) -> float:
        """Sum over batches of the batch's rows times :meth:`_loss_offset` of its weighted
        targets (0 but for the Poisson loss)."""
        if self.out_activation_ != "exp":
            return 0.0
        t = targets.astype(np.float64)
        rows = np.sum(xlogy(t, t) - t, axis=1)[order] * sw[order]
        return float(np.sum(np.add.reduceat(rows, bounds[:-1]) / totals * np.diff(bounds)))

    def _run(self, X, targets, sw, order, bounds, solver, threads) -> float:
        """The compiled epoch over some batches (sparse X: a chunk of batches at a time,
        densified); the sum over batches of fastnn's batch loss times its rows. With
        sample weights ``sw``, each batch's weight decay is scikit-learn's alpha over the
        batch's weight."""
        model = self.model_
        sizes = {int(bounds[1] - bounds[0]), int(bounds[-1] - bounds[-2])}  # equal but the last
        workspaces = {m: model.engine.workspace(m, sw is not None) for m in sizes}
        per_weight = solver.scale * solver.alpha if sw is not None else 0.0
        chunks = [(0, len(bounds) - 1)]
        if scipy.sparse.issparse(X):
            per = max(1, _chunk_rows(X.shape[1], model.dtype) // int(bounds[1] - bounds[0]))
            chunks = [(k, min(k + per, len(bounds) - 1)) for k in range(0, len(bounds) - 1, per)]
        total = 0.0
        for k0, k1 in chunks:
            if scipy.sparse.issparse(X):
                rows = order[bounds[k0]:bounds[k1]]
                Xc = np.ascontiguousarray(X[rows].toarray(), dtype=model.dtype)
                tc = np.ascontiguousarray(targets[rows])
                wc = None if sw is None else np.ascontiguousarray(sw[rows])
                oc, bc = np.arange(len(rows), dtype=np.int64), bounds[k0:k1 + 1] - bounds[k0]
            else:
                Xc, tc, wc, oc, bc = X, targets, sw, order, bounds[k0:k1 + 1]
            result = model.engine.run_epoch(
                workspaces, Xc, tc, wc, oc, np.ascontiguousarray(bc), solver.opt,
                solver.opt.lr, threads, decay_per_weight=per_weight)
            if result.status != engine.DONE:
                raise ValueError(f"the training loss became {result.stop_loss} (learning rate "
                                 f"{solver.lr:g}); lower learning_rate_init or scale the data")
            total += result.loss_rows
            del Xc                       # one densified chunk alive at a time
        return total

    def _epoch_by_batch(self, X, targets, sw, order, bounds, loss_scale, plan) -> float:
        """One epoch, a batch at a time from Python: each batch's weight decay of its own
        (sample weights) or scikit-learn's step with momentum 1 in NumPy."""
        model = self.model_
        n_threads = resolve_n_threads(model.n_threads)
        accumulated = 0.0
        with blas_held:
            for idx, rows in self._batch_rows(X, order, bounds):
                m = len(idx)
                ws = model.engine.workspace(m, sw is not None)
                if rows is None:
                    np.take(X, idx, axis=0, out=ws.x)
                else:
                    ws.x[...] = rows
                np.take(targets, idx, axis=0, out=ws.target)
                weight = float(m)
                if sw is not None:
                    np.take(sw, idx, out=ws.weight)
                    weight = float(ws.weight.sum())
                    if weight <= 0:
                        continue
                l2 = self._l2(plan["weights"]) / weight if self.alpha else 0.0
                batch_loss = self._batch_step(ws, weight, n_threads)
                offset = self._loss_offset(ws.target, None if sw is None else ws.weight)
                accumulated += (batch_loss * loss_scale + l2 + offset) * m
        return accumulated / X.shape[0]

    def _batch_rows(self, X, order, bounds):
        """Each batch's row indices, and its rows of a sparse X densified (None for dense X:
        the caller gathers them); sparse X is densified a chunk of batches at a time."""
        n_batches = len(bounds) - 1
        if not scipy.sparse.issparse(X):
            for k in range(n_batches):
                yield order[bounds[k]:bounds[k + 1]], None
            return
        per = max(1, _chunk_rows(X.shape[1], self.model_.dtype) // int(bounds[1] - bounds[0]))
        for k0 in range(0, n_batches, per):
            k1 = min(k0 + per, n_batches)
            dense = X[order[bounds[k0]:bounds[k1]]].toarray()
            for k in range(k0, k1):
                lo, hi = bounds[k] - bounds[k0], bounds[k + 1] - bounds[k0]
                yield order[bounds[k]:bounds[k + 1]], dense[lo:hi]
            del dense

    def _batch_step(self, ws, weight: float, n_threads: int) -> float:
        """Gradient of the batch in ``ws`` and one update; fastnn's batch loss."""
        model, solver = self.model_, self._optimizer
        solver.steps += 1
        step = solver.steps if solver.opt is None else solver.opt.t + 1
        batch_loss, _ = model.engine.train_step(ws, n_threads, step)
        if not math.isfinite(batch_loss):
            raise ValueError(f"the training loss became {batch_loss} (learning rate "
                             f"{solver.lr:g}); lower learning_rate_init or scale the data")
        if solver.opt is None:
            engine = model.engine
            solver.numpy_step(engine.params, engine.grads, engine.decayed_segments(), weight)
        else:
            solver.prepare(weight)
            update = solver.opt.update_for(model.engine.params, model.engine.grads, solver.opt.lr,
                                           model.engine.decay)
            update.step(n_threads)
            solver.opt.t = update.t
        return batch_loss

    def _fit_lbfgs(self, X, y2d, sample_weight):
        model = self.model_
        loss_scale, grad_scale = self._scales()
        Xm = self._as_model_input(X)
        targets = self._targets(y2d)
        n = X.shape[0]
        total = float(n if sample_weight is None else sample_weight.sum())
        n_threads = resolve_n_threads(model.n_threads)
        step = _chunk_rows(X.shape[1], model.dtype)
        chunks = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
        if scipy.sparse.issparse(Xm) and len(chunks) == 1:    # densified once, not per pass
            Xm = np.ascontiguousarray(Xm.toarray(), dtype=model.dtype)
        weighted = sample_weight is not None
        decayed = model.engine.decayed_segments()
        grad = np.empty(model.engine.params.size, np.float64)
        offset = self._loss_offset(targets, sample_weight)

        def loss_grad(packed):
            model.engine.params[...] = packed
            grad[...] = 0.0
            loss = 0.0
            with blas_held:
                for lo, hi in chunks:
                    ws = model.engine.workspace(hi - lo, weighted)
                    ws.x[...] = Xm[lo:hi].toarray() if scipy.sparse.issparse(Xm) else Xm[lo:hi]
                    ws.target[...] = targets[lo:hi]
                    part = float(hi - lo)
                    if weighted:
                        ws.weight[...] = sample_weight[lo:hi]
                        part = float(ws.weight.sum())
                        if part <= 0:
                            continue
                    value, _ = model.engine.train_step(ws, n_threads)
                    loss += value * part / total
                    grad[...] += model.engine.grads * (part / (total * grad_scale))
            loss = loss * loss_scale + offset
            for lo, hi in decayed:
                w = model.engine.params[lo:hi].astype(np.float64)
                loss += 0.5 * float(self.alpha) * float(np.dot(w, w)) / total
                grad[lo:hi] += float(self.alpha) * w / total
            return loss, grad

        result = scipy.optimize.minimize(
            loss_grad, model.engine.params.astype(np.float64), method="L-BFGS-B", jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        self.n_iter_ = min(int(result.nit), self.max_iter)
        if not result.success:
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s) (status="
                f"{result.status}):\n{result.message}.\n\nIncrease the number of iterations to "
                f"improve the convergence (max_iter={self.max_iter}).\nYou might also want to "
                "scale the data as shown in:\n    "
                "https://scikit-learn.org/stable/modules/preprocessing.html", ConvergenceWarning)
        self.loss_ = float(result.fun)
        model.engine.params[...] = result.x
        if self.verbose:
            print(f"L-BFGS: {self.n_iter_} iterations, loss = {self.loss_:.8f}")

    def _is_classifier(self) -> bool:
        return False

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data (a DataFrame sets ``feature_names_in_``).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classification) or real values (regression).
        sample_weight : array-like of shape (n_samples,), optional
            Finite weights >= 0.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self) -> bool:
        if self.solver not in _STOCHASTIC:
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    # ------------------------------------------------------------ prediction
    def to_onnx(self, path=None, *, opset: int | None = None):
        """Export to ONNX: a graph that computes ``predict`` (output ``label``, or
        ``predictions`` for a regressor) and ``predict_proba`` (``probabilities``).

        Needs the ``onnx`` package (``pip install onnx``); see
        :func:`fastnn.export.to_onnx`.

        Parameters
        ----------
        path : str or path-like, optional
            Where to write the ``.onnx`` file; without it only the proto is returned.
        opset : int, optional
            ONNX opset (default 17).

        Returns
        -------
        onnx.ModelProto
        """
        from fastnn.export import to_onnx

        return to_onnx(self, path, opset=opset)

    def _forward_pass_fast(self, X, check_input=True) -> np.ndarray:
        """The network's output (probabilities, or values): (n_samples, n_outputs)."""
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        model = self.model_
        n_threads = resolve_n_threads(model.n_threads)
        if not scipy.sparse.issparse(X):
            return model.engine.forward(np.ascontiguousarray(X, dtype=model.dtype), True, n_threads)
        X = X.tocsr()
        out = np.empty((X.shape[0], model.n_outputs), model.dtype)
        step = _chunk_rows(X.shape[1], model.dtype)
        for lo in range(0, X.shape[0], step):
            chunk = np.ascontiguousarray(X[lo:lo + step].toarray(), dtype=model.dtype)
            out[lo:lo + len(chunk)] = model.engine.forward(chunk, True, n_threads)
            del chunk
        return out

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)


_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default (100,)
        The ith element is the number of neurons in the ith hidden layer.
    activation : {"identity", "logistic", "tanh", "relu"}, default "relu"
        Activation of the hidden layers.
    solver : {"lbfgs", "sgd", "adam"}, default "adam"
        "lbfgs": scipy's L-BFGS-B on the full-batch loss; "sgd": stochastic
        gradient descent; "adam": Kingma and Ba's Adam.
    alpha : float >= 0, default 0.0001
        Strength of the L2 term, divided by the batch's weight (its rows).
    batch_size : int or "auto", default "auto"
        Rows per mini-batch; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        Schedule of the learning rate, for ``solver="sgd"``.
    learning_rate_init : float > 0, default 0.001
    power_t : float >= 0, default 0.5
        Exponent of "invscaling": ``learning_rate_init / (t + 1)**power_t``,
        ``t`` the samples seen.
    max_iter : int, default 200
        Epochs (stochastic solvers) or iterations (lbfgs) at most.
    shuffle : bool, default True
    random_state : int, RandomState instance or None, default None
        Initial weights, the validation split and the batch order.
    tol : float >= 0, default 1e-4
    verbose : bool, default False
    warm_start : bool, default False
    momentum : float in [0, 1], default 0.9
    nesterovs_momentum : bool, default True
    early_stopping : bool, default False
    validation_fraction : float in [0, 1), default 0.1
    beta_1, beta_2 : float in [0, 1), default 0.9 and 0.999
    epsilon : float > 0, default 1e-8
    n_iter_no_change : int >= 1 or inf, default 10
    max_fun : int >= 1, default 15000
        Loss evaluations at most (lbfgs).
    batch_norm : bool, default False
        fastnn's: batch normalization in each hidden layer (its Dense layers
        then have no bias; stochastic solvers only).
    bn_position : {"before", "after"}, default "before"
        fastnn's: batch norm before or after the activation.
    dropout : float in [0, 1), default 0.0
        fastnn's: dropout rate after each hidden layer.
    n_threads : int, optional
        fastnn's: threads for the kernels (default: fastnn's count).
    dtype : {None, "float32", "float64"}, default None
        fastnn's: the network's precision; None follows ``X`` as
        scikit-learn does (float32 stays float32, everything else float64).

    Attributes
    ----------
    loss_ : float
    best_loss_ : float or None
    loss_curve_ : list of float
    validation_scores_ : list of float or None
    best_validation_score_ : float or None
    t_ : int
        Training samples seen.
    coefs_ : list of arrays
    intercepts_ : list of arrays
    n_features_in_ : int
    feature_names_in_ : array of str
        Set when ``X`` has string column names (a DataFrame).
    n_iter_ : int
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
    model_ : fastnn.Sequential
        The network itself (save it with ``model_.save``).
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = ("""Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` on
    fastnn's engine (see :mod:`fastnn.estimators`).

    Minimizes the log loss with L-BFGS, SGD or Adam; a softmax output for
    several classes, a logistic output for two classes and for multi-label
    targets.
    """ + _PARAMS_DOC + """    classes_ : array of shape (n_classes,)
    """)

    def _output(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _is_classifier(self) -> bool:
        return True

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same "
                                     f"classes as in the previous call to fit. Previously got "
                                     f"{self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    def predict(self, X):
        """Predict with the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        array of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
        classes : array of shape (n_classes,), optional
            All the classes; required at the first call (not for multi-label y).

        Returns
        -------
        self
        """
        classes_ = getattr(self, "classes_", None)
        if classes_ is None and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        first = classes is not None and classes_ is None
        if classes is not None and classes_ is not None and not np.array_equal(
                classes_, unique_labels(classes)):
            raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                             f"partial_fit, was: {classes_!r}")
        if first:
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        array of shape (n_samples, n_classes)
            Column ``k`` the probability of ``classes_[k]``.
        """
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X):
        """The logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        array of shape (n_samples, n_classes)
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = ("""Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` on
    fastnn's engine (see :mod:`fastnn.estimators`).

    Minimizes half the squared error (``loss="squared_error"``), or half the
    Poisson deviance with an exp output (``loss="poisson"``, fastnn's
    Poisson loss with its log link), with L-BFGS, SGD or Adam.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default "squared_error"
    """ + _PARAMS_DOC.split("Parameters\n    ----------\n", 1)[1])

    _parameter_constraints: dict = P.REGRESSOR_CONSTRAINTS

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 batch_norm=False, bn_position="before", dropout=0.0, n_threads=None,
                 dtype=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            batch_norm=batch_norm, bn_position=bn_position, dropout=dropout,
            n_threads=n_threads, dtype=dtype)
        self.loss = loss

    def _output(self) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and (np.any(y < 0) or not np.all(np.isfinite(y))):
            raise ValueError("loss='poisson' needs targets y >= 0")
        return X, y

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        array of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, r2_score)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
