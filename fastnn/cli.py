"""The ``fastnn`` command line.

    fastnn train   [--data digits | --data FILE.csv --target COLUMN] [--loss huber --delta 2] [options]
    fastnn search  [data options] --trials 40 --jobs 2 --study study.db [--rounds 3] [--scheduler asha]
    fastnn babysit [data and model options] --epochs 30 --checkpoint-dir DIR [--resume]
    fastnn study show study.db
    fastnn study report study.db -o report.html     (or a babysitting run's directory)
    fastnn predict MODEL.fnn FILE.csv [--out PREDICTIONS.csv] [--proba]
    fastnn export  MODEL.fnn MODEL.onnx [--opset 17]
    fastnn info

Bad arguments, files or values give a one-line error on standard error and exit
status 2; Python warnings become one-line notes. FASTNN_DEBUG=1 shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import shlex
import sys
import warnings

import numpy as np

EXIT_USAGE = 2
EXIT_INTERNAL = 1
BUNDLED = ("digits",)                      # --data names that are not files
# fastnn.search.study.SAMPLER_NAMES, written out so that building the parser imports no search
# code (a test checks that the two agree)
SAMPLER_CHOICES = ("tpe", "gp", "random", "sobol", "halton")


class UsageError(Exception):
    """A problem with what the user asked for: reported in one line, exit 2."""


class ArgumentError(UsageError):
    """A bad command line, already phrased: ``fastnn train: error: --epochs: ...``."""


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or not action.option_strings or action.default is None
                or action.default is False or action.default is argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line naming the option, raised, not printed.

    Options are never abbreviated (a typo must not guess: --epoch is not --epochs), and an
    unknown argument is refused by the command it was given to, which names its closest
    options and its own --help.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        # A command's parser is run by its parent with parse_known_args, which passes
        # what it does not know back up to the top, where the message would name
        # 'fastnn' rather than the command: each parser refuses them itself.
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(self._unrecognized(extras))
        return namespace, extras

    def _unrecognized(self, extras: list[str]) -> str:
        from fastnn._validation import closest

        word = extras[0]
        if not word.startswith("-"):
            return f"unrecognized arguments: {' '.join(extras)}"
        options = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
        given = word.split("=", 1)[0]
        near = [o for o in options if o.startswith(given)] or closest(given, options)
        guess = f"; did you mean {' or '.join(near)}?" if near else ""
        return f"unrecognized argument {word}{guess}"

    def error(self, message):
        message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
        message = re.sub(r"^(SUB)?COMMAND: invalid choice: ", "unknown command ", message)
        raise ArgumentError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def _whole(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def _real(text: str, low: float, high: float, what: str, *, closed_low: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    inside = (low <= value if closed_low else low < value) and value < high
    if not (math.isfinite(value) and inside):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    return _whole(text, 1, "a positive whole number")


def _setting(text: str) -> tuple[str, object]:
    """NAME=VALUE, the value as a number, true/false or a word."""
    name, _, value = text.partition("=")
    if not name.isidentifier() or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. noise_prior=0.2), "
                                         f"got {text!r}")
    if value.lower() in ("true", "false"):
        return name, value.lower() == "true"
    for kind in (int, float):
        try:
            return name, kind(value)
        except ValueError:
            pass
    return name, value


def _thread_count(text: str) -> int:
    from fastnn._threads import max_threads

    value = _whole(text, 1, f"a whole number from 1 to {max_threads()}")
    if value > max_threads():
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {max_threads()} "
                                         f"(4 x the cores this process may use, at least 64), "
                                         f"got {text!r}")
    return value


def _seed(text: str) -> int:
    return _whole(text, 0, "a whole number >= 0")


def _positive(text: str) -> float:
    return _real(text, 0, math.inf, "a positive number")


def _non_negative(text: str) -> float:
    return _real(text, 0, math.inf, "a number >= 0", closed_low=True)


def _finite(text: str) -> float:
    return _real(text, -math.inf, math.inf, "a number")


def _fraction(text: str) -> float:
    return _real(text, 0, 1, "a number between 0 and 1 (both excluded)")


def _rate(text: str) -> float:
    return _real(text, 0, 1, "a number from 0 up to (not including) 1", closed_low=True)


def _hidden(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        widths = (0,)
    if any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"expected positive widths like 128,64, got {text!r}")
    from fastnn._validation import MAX_WIDTH

    if max(widths, default=1) > MAX_WIDTH:
        raise argparse.ArgumentTypeError(f"expected widths of at most {MAX_WIDTH:,} (2**31 - 1, "
                                         f"the widest layer fastnn takes), got {text!r}")
    return widths


def _add_data_options(p: argparse.ArgumentParser, seed: int | None = 0,
                      seed_note: str = "") -> None:
    p.add_argument("--data", default="digits", metavar="DATA",
                   help="a bundled data set (digits: 1,797 8x8 images of handwritten digits) or "
                        "a CSV file with a header row, one sample a row")
    p.add_argument("--target", metavar="COLUMN",
                   help="the label column of the CSV file (needed with a CSV file)")
    p.add_argument("--val-split", type=_fraction, default=0.25, metavar="FRACTION",
                   help="fraction of the rows held out for validation, in each class's proportion")
    p.add_argument("--seed", type=_seed, default=seed,
                   help="seed of the split, the initial weights and the shuffling" + seed_note)
    p.add_argument("--threads", type=_thread_count, default=None,
                   help="threads for the kernels (default: the cores this process may use)")


def _add_quiet(p: argparse.ArgumentParser, what: str) -> None:
    """--quiet, the same option on every command that trains."""
    p.add_argument("--quiet", action="store_true", help=f"no {what}; the results still print")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    from fastnn.layers import ACTIVATIONS
    from fastnn.optim import OPTIMIZERS

    p.add_argument("--hidden", type=_hidden, default="128,64", metavar="WIDTHS",
                   help="widths of the hidden layers, comma-separated")
    p.add_argument("--no-batch-norm", action="store_true", help="no batch normalization")
    p.add_argument("--bn-position", choices=("before", "after"), default="before",
                   help="batch norm before or after the activation")
    p.add_argument("--activation", choices=tuple(ACTIVATIONS), default="relu",
                   help="activation of the hidden layers")
    p.add_argument("--dropout", type=_rate, default=0.0, metavar="RATE",
                   help="dropout rate after each hidden layer, from 0 up to (not including) 1")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="precision of the weights and arithmetic: float32 (faster) or float64")
    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="adam",
                   help="the update rule")
    p.add_argument("--lr", type=_positive, default=1e-3, help="learning rate")
    p.add_argument("--beta", type=_fraction, default=None,
                   help="momentum's beta, or the beta1 of Adam and its kin (default: 0.9)")
    p.add_argument("--weight-decay", type=_non_negative, default=None,
                   help="L2 penalty on the weight matrices, decoupled for adamw "
                        "(default: 0, adamw 0.01)")
    p.add_argument("--lr-decay", type=_non_negative, default=0.0, metavar="RATE",
                   help="inverse-time decay: lr = lr0 / (1 + RATE * epoch)")
    p.add_argument("--epochs", type=_positive_int, default=20,
                   help="epochs to train (passes over the training rows)")
    p.add_argument("--batch-size", type=_positive_int, default=32,
                   help="samples per gradient step")


def _add_loss_options(p: argparse.ArgumentParser) -> None:
    """--loss, its choices the losses of fastnn/kinds.py, and an option per loss setting."""
    from fastnn.kinds import LOSSES

    p.add_argument("--loss", choices=tuple(row.name for row in LOSSES),
                   default="softmax_cross_entropy",
                   help="what to minimize: a classifier's softmax_cross_entropy, or a loss of "
                        "values (mse, huber...) for a numeric --target")
    settings = {}
    for row in LOSSES:
        for name, default, _ in row.settings:
            settings.setdefault(name, []).append(f"{row.name}'s (default: {default})")
    for name, which in settings.items():
        p.add_argument("--" + name.replace("_", "-"), type=_finite, default=None,
                       help=f"the {name} of the loss: {', '.join(which)}")


def _loss(args):
    """The loss --loss and its settings' options describe."""
    from fastnn.kinds import LOSSES, loss
    from fastnn.losses import get_loss

    row = loss(args.loss)
    given = {name: getattr(args, name) for name in {n for r in LOSSES for n, _, _ in r.settings}
             if getattr(args, name, None) is not None}
    for name in given:
        if name not in [n for n, _, _ in row.settings]:
            takes = sorted(r.name for r in LOSSES if name in [n for n, _, _ in r.settings])
            raise UsageError(f"--{name.replace('_', '-')} applies to --loss "
                             f"{', '.join(takes)}, not to {args.loss}")
    try:
        return get_loss(args.loss, given)
    except ValueError as exc:
        raise UsageError(f"--{str(exc).split()[0].replace('_', '-')}: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    from fastnn._version import __version__

    parser = _Parser(prog="fastnn", description="Fast CPU training and hyperparameter search of "
                     "MLP classifiers.", epilog="'fastnn COMMAND --help' describes a command and "
                     "its options. Errors are one line on standard error, exit status 2; "
                     "FASTNN_DEBUG=1 shows the traceback instead.")
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train an MLP and report its accuracy (or R^2)")
    _add_data_options(p)
    _add_model_options(p)
    _add_loss_options(p)
    p.add_argument("--save", metavar="PATH", help="write the trained model here (e.g. model.fnn)")
    _add_quiet(p, "progress line or bar per epoch")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("search", help="search hyperparameters: random, right scale, parallel")
    _add_data_options(p, seed=None, seed_note=", and the study's (default: 0; continuing a "
                      "study, its stored seed)")
    p.add_argument("--trials", type=_positive_int, default=40, help="trials to run in this call")
    p.add_argument("--jobs", type=_thread_count, default=2, help="trials run at once")
    p.add_argument("--study", default="study.db", metavar="FILE",
                   help="SQLite file holding the study; an existing study continues")
    p.add_argument("--name", default="default", help="study name within the file")
    p.add_argument("--on-mismatch", choices=("raise", "new_study", "continue"), default="raise",
                   help="continuing a study on other data: refuse (raise), start a new study "
                        "NAME-2 in the file (new_study), or go on in the same one (continue)")
    p.add_argument("--rounds", type=_positive_int, default=1,
                   help="coarse-to-fine rounds: each round after the first samples a box shrunk "
                        "around the best trials so far")
    p.add_argument("--top-k", type=_positive_int, default=5,
                   help="best trials each coarse-to-fine box centres on")
    p.add_argument("--scheduler", choices=("none", "asha", "median"), default="none",
                   help="early stopping of poor trials: asha (asynchronous successive halving), "
                        "median (below the median curve) or none")
    p.add_argument("--sampler", choices=SAMPLER_CHOICES, default=None,
                   help="how trial points are drawn: tpe or gp (random start-up, then a model "
                        "proposes batches: a Parzen estimator of good vs bad trials, or a "
                        "Gaussian process), random, or scrambled sobol or halton points "
                        "(default: gp, random with --rounds > 1; continuing a study, its "
                        "stored sampler)")
    p.add_argument("--sampler-option", type=_setting, action="append", default=None,
                   metavar="NAME=VALUE", dest="sampler_options",
                   help="a setting of the model sampler, repeatable (gp: noise_prior, "
                        "n_candidates, local_scale, length_prior; tpe: gamma, n_candidates, "
                        "bandwidth, multivariate, rank_weights); stored with the study, which "
                        "goes on with it when continued")
    p.add_argument("--executor", choices=("thread", "process"), default="thread",
                   help="where trials run: threads (the kernels release the GIL) or processes")
    p.add_argument("--epochs", type=_positive_int, default=20, help="epochs per trial")
    p.add_argument("--timeout", type=_positive, default=None, metavar="SECONDS",
                   help="seconds after which no new trial starts; trials still running a "
                        "second later are stopped and run again next time (default: none)")
    p.add_argument("--trial-timeout", type=_positive, default=None, metavar="SECONDS",
                   help="seconds a trial may run before it is stopped and recorded FAILED "
                        "(default: none)")
    p.add_argument("--save", metavar="PATH", default="best.fnn",
                   help="where the best configuration's model is written")
    _add_quiet(p, "progress line or bar per trial, nor each round's ranges")
    p.set_defaults(run=cmd_search)

    p = sub.add_parser("babysit", help="train one model, watching it: checkpoints, rollbacks, lr nudges")
    _add_data_options(p)
    _add_model_options(p)
    p.set_defaults(epochs=30)  # epochs trained, rolled-back ones included
    p.add_argument("--checkpoint-dir", default="babysit", metavar="DIR",
                   help="the run's directory: a checkpoint per epoch, state.json, events.jsonl")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --checkpoint-dir (its model and optimizer are kept)")
    _add_quiet(p, "line per epoch (rollbacks and learning-rate changes still print)")
    p.set_defaults(run=cmd_babysit)

    p = sub.add_parser("study", help="look at a stored study")
    study_sub = p.add_subparsers(dest="study_command", required=True, metavar="SUBCOMMAND")
    q = study_sub.add_parser("show", help="settings, trial counts, leaderboard")
    q.add_argument("storage", metavar="FILE",
                   help="the study's SQLite file (fastnn search --study)")
    q.add_argument("--name", default="default", help="study name within the file")
    q.add_argument("--top", type=_positive_int, default=10, help="rows of the leaderboard")
    q.set_defaults(run=cmd_study_show)
    q = study_sub.add_parser("report", help="one self-contained HTML page: settings, leaderboard, "
                             "figures, zoom history, retests, failures (needs matplotlib)")
    q.add_argument("source", help="a study's SQLite file, or a babysitting run's directory")
    q.add_argument("-o", "--out", default="report.html", help="the page (default report.html)")
    q.add_argument("--name", default="default", help="study name within the file (default default)")
    q.set_defaults(run=cmd_study_report)

    p = sub.add_parser("predict", help="predict the labels of a CSV file with a saved model")
    p.description = (
        "Predict with a saved model, one CSV row a sample. With a header row, the model's "
        "feature columns are taken by name, in any order (other columns, the label too, are "
        "ignored). Without one (the first row all numbers), each row must hold exactly the "
        "model's features in training order: a model trained on the bundled digits takes "
        "64 pixel values a row, pixel_0..pixel_63.")
    p.add_argument("model", help="a model file written by 'fastnn train --save' or "
                                 "'fastnn search'")
    p.add_argument("csv", help="CSV file of samples, with or without a header row")
    p.add_argument("--out", metavar="FILE",
                   help="write the predictions here (default: standard output)")
    p.add_argument("--proba", action="store_true", help="also write each class's probability")
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser("export", help="write a saved model as an ONNX file (needs onnx)")
    p.add_argument("model", help="a model file written by 'fastnn train --save'")
    p.add_argument("onnx", help="the ONNX file to write (e.g. model.onnx)")
    p.add_argument("--opset", type=_positive_int, default=None, help="ONNX opset (default 17)")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("info", help="show the build: version, OpenMP, threads, BLAS")
    p.set_defaults(run=lambda args: _info())
    _describe_commands(sub)
    return parser


def _describe_commands(sub) -> None:
    """Each command's --help opens with its line of the command list."""
    for action in sub._choices_actions:
        command = sub.choices[action.dest]
        command.description = command.description or action.help
        for nested in command._subparsers._group_actions if command._subparsers else ():
            _describe_commands(nested)


def _info() -> int:
    import fastnn

    fastnn.show_config()
    return 0


def load_data(args) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from fastnn.datasets import load_digits
    from fastnn.datasets._csv import read_csv

    if args.data == "digits":
        if args.target:
            raise UsageError("--target applies to CSV data, not to the bundled digits")
        X, y = load_digits()
        return X, y, [f"pixel_{i}" for i in range(X.shape[1])]
    if not os.path.exists(args.data):
        raise UsageError(f"--data {args.data}: no such file, and no bundled data set of that "
                         f"name (bundled: {', '.join(BUNDLED)})")
    if os.path.isdir(args.data):
        raise UsageError(f"--data {args.data} is a directory; give a CSV file")
    if not args.target:
        columns = _csv_columns(args.data)
        raise UsageError(f"--data {args.data} needs --target COLUMN, the label column; its "
                         f"columns are {_names(columns)}")
    return read_csv(args.data, target=args.target)   # a wrong --target: the closest columns


def _csv_columns(path) -> list[str]:
    """The names in a CSV file's first row."""
    from fastnn.datasets._csv import _first_row

    return _first_row(path)


def _names(names: list[str], most: int = 8) -> str:
    from fastnn._validation import name_list

    return name_list(names, most)


def make_optimizer(name: str, lr: float, beta: float | None, weight_decay: float | None = None):
    from fastnn.kinds import RULES
    from fastnn.optim import OPTIMIZERS

    kwargs = {"lr": lr}
    if beta is not None:        # a rule's first hyperparameter, if it is its (first) beta
        takes = {row.name: row.hyper[0][0] for row in RULES
                 if row.hyper and row.hyper[0][0] in ("beta", "beta1")}
        if name not in takes:
            raise UsageError(f"--beta applies to {', '.join(sorted(takes))}, not to {name}")
        kwargs[takes[name]] = beta
    if weight_decay is not None:
        kwargs["weight_decay"] = weight_decay
    try:
        return OPTIMIZERS[name](**kwargs)
    except ValueError as exc:
        raise UsageError(f"--optimizer {name}: {exc}") from None


def _split(args, classifier: bool = True):
    from fastnn.datasets import train_test_split

    X, y, names = load_data(args)
    if not classifier:
        if y.dtype.kind not in "biuf":
            raise UsageError(f"--loss {args.loss} fits numbers; the column {args.target!r} "
                             "holds labels (a classifier's --loss is softmax_cross_entropy)")
        return (*train_test_split(X, y.astype(np.float64), test_size=args.val_split,
                                  seed=args.seed), names)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise UsageError(f"the label column {args.target!r} holds one class ({classes[0]}); "
                         "a classifier needs at least 2")
    if counts.max() < 2:
        raise UsageError(f"--val-split: {len(y)} rows with a class each cannot be split into "
                         "training and validation rows; a class needs at least 2 rows")
    return (*train_test_split(X, y, test_size=args.val_split, seed=args.seed), names)


def _model(args, names, X, y, loss="softmax_cross_entropy"):
    """The MLP the model options describe, built for ``(X, y)``, knowing X's column names."""
    from fastnn import MLP

    try:
        model = MLP(hidden=args.hidden, batch_norm=not args.no_batch_norm,
                    bn_position=args.bn_position, activation=args.activation,
                    dropout=args.dropout, dtype=args.dtype, n_threads=args.threads,
                    seed=args.seed, loss=loss)
    except ValueError as exc:
        raise UsageError(f"--dropout: {exc}") from None
    model.prepare(X, y)
    model.feature_names_in_ = names
    return model


def cmd_train(args) -> int:
    from fastnn import InverseTimeDecay

    loss = _loss(args)
    X_tr, X_val, y_tr, y_val, names = _split(args, loss.classifier)
    model = _model(args, names, X_tr, y_tr, loss)
    optimizer = make_optimizer(args.optimizer, args.lr, args.beta, args.weight_decay)
    decay = InverseTimeDecay(args.lr_decay) if args.lr_decay else None
    what = f", {len(np.union1d(y_tr, y_val))} classes" if model.classes_ is not None else ""
    print(f"training {model!r} on {X_tr.shape[0]} samples, validating on {X_val.shape[0]}"
          f"{what}", flush=True)
    model.fit(X_tr, y_tr, epochs=args.epochs, batch_size=args.batch_size, optimizer=optimizer,
              lr_decay=decay, validation_data=(X_val, y_val), seed=args.seed,
              verbose=0 if args.quiet else 1)
    metric = loss.metric
    train_score = model.evaluate(X_tr, y_tr)[metric]
    val_score = model.evaluate(X_val, y_val)[metric]
    print(f"train {metric} {train_score:.4f}  validation {metric} {val_score:.4f}")
    if args.save:
        model.save(args.save)
        print(f"saved {args.save}; predict with it: fastnn predict {shlex.quote(args.save)} "
              "rows.csv")
    return 0


def cmd_search(args) -> int:
    import os
    import time

    from fastnn.search import ASHA, MedianStopping, MLPObjective, Study, default_mlp_space

    if os.path.isdir(args.study):
        raise UsageError(f"--study {args.study} is a directory; give a file name")
    _continue_settings(args)
    X_tr, X_val, y_tr, y_val, names = _split(args)
    objective = MLPObjective(X_tr, y_tr, X_val, y_val, max_epochs=args.epochs)
    scheduler = {"none": None, "asha": ASHA(), "median": MedianStopping()}[args.scheduler]
    try:
        study = Study(args.study, space=default_mlp_space(), direction="maximize",
                      seed=args.seed, name=args.name, sampler=args.sampler,
                      data_fingerprint=objective.fingerprint(), on_mismatch=args.on_mismatch,
                      sampler_options=dict(args.sampler_options or ()) or None)
    except ValueError as exc:
        if "sampler_options" in str(exc):
            raise UsageError(str(exc).replace("Leave sampler_options out (or pass the stored "
                                              "values)", "Leave out --sampler-option (or give "
                                              "the stored values)")
                             .replace("sampler_options", "--sampler-option")) from None
        if "was opened with" not in str(exc):
            raise
        raise UsageError(f"study {args.name!r} in {args.study} ran on other data (or another "
                         "space); add --on-mismatch new_study to start a new study beside it, "
                         "--on-mismatch continue to go on in it, or give another --name") from None
    with study:
        print(f"study {args.name!r} in {args.study}: {len(study.trials)} earlier trials; "
              f"running {args.trials} on {X_tr.shape[0]} samples ({X_val.shape[0]} to validate), "
              f"{args.jobs} at once", flush=True)
        start = time.perf_counter()
        study.optimize(objective, args.trials, n_jobs=args.jobs, executor=args.executor,
                       scheduler=scheduler, timeout=args.timeout,
                       trial_timeout=args.trial_timeout, rounds=args.rounds,
                       top_k=args.top_k, progress=not args.quiet)
        elapsed = time.perf_counter() - start
        print(f"\n{args.trials} trials in {elapsed:.1f}s "
              f"({60 * args.trials / elapsed:.1f} trials/min)\n")
        print(study.leaderboard())
        best = study.best
        epochs = best.user_attrs.get("epochs", args.epochs)
        model = objective.train(best.params, seed=best.seed, epochs=epochs,
                                n_threads=best.user_attrs.get("n_threads"))
        model.feature_names_in_ = names
        acc = model.evaluate(X_val, y_val)["accuracy"]
        model.save(args.save)
        print(f"\nbest: trial {best.number}, validation accuracy {best.value:.4f} "
              f"(retrained: {acc:.4f}); saved {args.save}")
        for line in _next_steps(args):
            print(line)
    return 0


def _continue_settings(args) -> None:
    """Continuing a study: take its stored --seed and --sampler, or refuse others."""
    stored = None
    if os.path.isfile(args.study):
        from fastnn.search.storage import Storage

        storage = Storage(args.study)
        try:
            stored = storage.load_study(args.name)
        finally:
            storage.close()
    if stored is not None:
        for key in ("seed", "sampler"):
            given = getattr(args, key)
            if given is not None and given != stored[key]:
                raise UsageError(f"study {args.name!r} in {args.study} has --{key} {stored[key]}; "
                                 f"leave out --{key} (or give --{key} {stored[key]}) to continue "
                                 "it, or start another study with --name")
    if args.seed is None:
        args.seed = stored["seed"] if stored is not None else 0
    if stored is None and args.sampler is None and args.rounds > 1:
        args.sampler = "random"         # coarse-to-fine rounds zoom a box sampler's points


def _next_steps(args) -> list[str]:
    """What to do with a finished search's results, as commands to copy."""
    model, study = shlex.quote(args.save), shlex.quote(args.study)
    name = "" if args.name == "default" else f" --name {shlex.quote(args.name)}"
    columns = ("64 pixel values a row, or a header naming them" if args.data == "digits"
               else "the feature columns, by name in a header row")
    return [f"the best model is in {args.save}; predict with it: "
            f"fastnn predict {model} rows.csv   (rows.csv: {columns})",
            f"the study: fastnn study show {study}{name}",
            f"its figures on one page: fastnn study report {study}{name} -o report.html"]


def cmd_babysit(args) -> int:
    from fastnn.search import Babysitter

    if args.lr_decay:
        raise UsageError("babysit sets the learning rate itself; --lr-decay does not apply")
    _check_run_dir(args.checkpoint_dir, args.resume)
    X_tr, X_val, y_tr, y_val, names = _split(args)
    if args.resume:
        sitter = Babysitter.resume(args.checkpoint_dir, X_tr, y_tr, (X_val, y_val))
        print(f"resumed {args.checkpoint_dir} at epoch {sitter.epoch}, lr {sitter.lr:.3g}")
    else:
        sitter = Babysitter(_model(args, names, X_tr, y_tr), X_tr, y_tr, (X_val, y_val),
                            args.checkpoint_dir,
                            make_optimizer(args.optimizer, args.lr, args.beta, args.weight_decay),
                            batch_size=args.batch_size, seed=args.seed)
    seen = len(sitter.events())
    for _ in range(args.epochs):
        sitter.auto(1)
        for event in sitter.events()[seen:]:
            if not (args.quiet and event["event"] == "epoch"):
                print(_event_line(event), flush=True)
        seen = len(sitter.events())
    print(f"now at epoch {sitter.epoch}, lr {sitter.lr:.3g}; checkpoints and events.jsonl in "
          f"{args.checkpoint_dir} (--resume continues the run)")
    if not sitter.curve:
        print("no epoch trained without diverging: start again with a lower --lr")
        return 0
    best = max(sitter.curve, key=lambda rec: (rec["val_accuracy"], -rec["val_loss"]))
    path = os.path.join(args.checkpoint_dir, _checkpoint_name(best["epoch"]))
    print(f"best: epoch {best['epoch']}, validation accuracy {best['val_accuracy']:.4f}, "
          f"validation loss {best['val_loss']:.4f}; its model: {path}")
    return 0


def _check_run_dir(path: str, resume: bool) -> None:
    from fastnn.search.babysitter import _STATE

    has_run = os.path.isfile(os.path.join(path, _STATE))
    if resume and not has_run:
        raise UsageError(f"--checkpoint-dir {path} holds no babysitting run to resume; leave out "
                         "--resume to start one there")
    if not resume and has_run:
        raise UsageError(f"--checkpoint-dir {path} already holds a babysitting run; add --resume "
                         "to continue it, or give another --checkpoint-dir")
    if not resume and os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"--checkpoint-dir {path} is a file; give a directory")


def _checkpoint_name(epoch: int) -> str:
    from fastnn.search.babysitter import _checkpoint_name as name

    return name(epoch)


def _event_line(event: dict) -> str:
    kind = event["event"]
    if kind == "epoch":
        return (f"epoch {event['epoch']:>3}  loss {event['loss']:.4f}  acc {event['accuracy']:.4f}  "
                f"val_loss {event['val_loss']:.4f}  val_acc {event['val_accuracy']:.4f}  "
                f"lr {event['lr']:.3g}")
    try:
        return _EVENT_LINES[kind](event)
    except KeyError:           # another kind, or fields this version does not know
        skip = {"time", "event", "epoch"}
        return f"  {kind}: " + ", ".join(f"{k.replace('_', ' ')} {_short(v)}"
                                          for k, v in event.items() if k not in skip)


_EVENT_LINES = {
    "diverged": lambda e: f"  diverged at lr {e['lr']:.3g}: {_short(e['message'])}",
    "rollback": lambda e: f"  rolled back from epoch {e['from_epoch']} to epoch {e['to_epoch']}",
    "nudge": lambda e: f"  lr {e['old_lr']:.3g} -> {e['lr']:.3g}",
    "policy": lambda e: (f"  policy: roll back to epoch {e['to_epoch']}, lr {e['lr']:.3g}: "
                         f"{_short(e['reason'])}" if e["action"] == "rollback" else
                         f"  policy: lr {e['lr']:.3g}: {_short(e['reason'])}"),
}


def _short(value) -> str:
    """An event's value for one line: floats to 4 significant digits, text to its first line."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return value.strip().splitlines()[0] if value.strip() else "''"
    return str(value)


def cmd_study_show(args) -> int:
    import os
    from collections import Counter

    from fastnn.plot.search import value_name
    from fastnn.search import Study
    from fastnn.search.progress import describe_params

    if not os.path.exists(args.storage):
        raise UsageError(f"{args.storage}: no such study file")
    _check_study_name(args.storage, args.name)
    with Study(args.storage, name=args.name) as study:
        trials = study.trials
        counts = Counter(t.state.value for t in trials)
        print(f"study {study.name!r} in {args.storage}: direction {study.direction}, "
              f"seed {study.seed}, sampler {study.sampler}")
        print("trials: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
        if any(t.value is not None for t in study.ranked()):
            best = study.best
            metric = value_name(trials)
            print(f"best: trial {best.number}, {metric} {best.value:.4f}, "
                  f"{describe_params(best.params)}\n")
            print(study.leaderboard(args.top))
    return 0


def _check_study_name(path: str, name: str) -> None:
    """Refuse, in --name's words, a study name the file does not hold."""
    from fastnn.search.storage import stored_study_names

    names = stored_study_names(path)                 # read-only: nothing is written
    if names is not None and name not in names:
        held = f"its studies: {_names(names)}" if names else "it holds no study yet"
        raise UsageError(f"study {name!r} does not exist in {path}; {held} (--name picks one)")


def cmd_study_report(args) -> int:
    import os

    from fastnn.plot import report

    if not os.path.exists(args.source):
        raise UsageError(f"{args.source} does not exist (give a study file or a babysitting "
                         "run's directory)")
    if os.path.isfile(args.source):
        _check_study_name(args.source, args.name)
    try:
        report(args.source, args.out, name=args.name)
    except ImportError as exc:       # matplotlib missing
        raise UsageError(str(exc)) from None
    print(f"wrote {args.out}")
    return 0


def cmd_predict(args) -> int:
    import fastnn
    from fastnn.datasets._csv import read_csv

    _check_predict_order(args.model, args.csv)
    model = fastnn.load(args.model)
    if args.proba and not model.loss.classifier:
        raise UsageError(f"--proba applies to classifiers; {args.model} predicts values")
    names = getattr(model, "feature_names_in_", None)
    X, _, names = read_csv(args.csv, features=names, header="auto")
    if X.shape[1] != model.n_features_in_:
        raise UsageError(f"{args.csv} has {X.shape[1]} feature columns; {args.model} takes "
                         f"{model.n_features_in_}")
    labels = _columns(model.predict(X))
    header = ["prediction"] if labels.shape[1] == 1 else [
        f"prediction_{j}" for j in range(labels.shape[1])]
    proba = np.empty((len(X), 0))
    if args.proba:
        proba = _columns(model.predict_proba(X))
        header += model.loss.proba_columns(model)
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    try:
        writer = csv.writer(out)
        writer.writerow(header)
        for label, row in zip(labels, proba):
            writer.writerow([_cell(v) for v in label] + [f"{p:.6g}" for p in row])
    finally:
        if args.out:
            out.close()
    if args.out:
        print(f"wrote {len(labels)} predictions to {args.out}", file=sys.stderr)
    return 0


def _is_model_file(path: str) -> bool:
    """Whether ``path`` starts as a model file does (a zip archive: NumPy's .npz)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _check_predict_order(model: str, rows: str) -> None:
    """Refuse ``fastnn predict ROWS.csv MODEL.fnn``, saying the order is the other way."""
    if _is_model_file(rows) and not _is_model_file(model):
        raise UsageError(f"the arguments look swapped: {rows} is a model file and {model} is "
                         f"not; the model comes first: fastnn predict {shlex.quote(rows)} "
                         f"{shlex.quote(model)}")


def _columns(a: np.ndarray) -> np.ndarray:
    return a.reshape(len(a), -1)


def _cell(value) -> str:
    return f"{value:.6g}" if isinstance(value, (float, np.floating)) else str(value)


def cmd_export(args) -> int:
    import fastnn

    model = fastnn.load(args.model)
    folder = os.path.dirname(args.onnx) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {args.onnx}: the folder {folder} does not exist")
    try:
        proto = model.to_onnx(args.onnx, opset=args.opset)
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    outputs = ", ".join(out.name for out in proto.graph.output)
    print(f"wrote {args.onnx}: input X ({model.n_features_in_} features, {model.dtype.name}), "
          f"outputs {outputs}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``fastnn`` with the arguments ``argv`` (default ``sys.argv[1:]``).

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int
        The exit status: 0 done; 2 a bad request (arguments, files, values,
        a diverged training), reported in one line on standard error; 1 an
        internal error (also one line); 130 interrupted.
    """
    try:
        args = build_parser().parse_args(argv)
    except ArgumentError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:                # --help and --version print, then stop
        return exc.code if isinstance(exc.code, int) else 0
    command = " ".join(["fastnn", args.command] + ([args.study_command]
                                                   if getattr(args, "study_command", None) else []))
    debug = bool(os.environ.get("FASTNN_DEBUG"))
    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = _note_printer(command)
        # the command line matches CSV columns to a model's by name itself, then passes
        # arrays: a model's note that an array has no column names does not apply
        warnings.filterwarnings("ignore", message=".*feature names", category=UserWarning)
        try:
            return args.run(args)
        except KeyboardInterrupt:
            print(f"{command}: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            if debug:
                raise
            expected = isinstance(exc, _request_errors())
            kind = "error" if expected else f"internal error ({type(exc).__name__})"
            print(f"{command}: {kind}: {_message(exc)}", file=sys.stderr)
            return EXIT_USAGE if expected else EXIT_INTERNAL


def _request_errors() -> tuple[type, ...]:
    """Exceptions that mean the request cannot be done: exit 2, not a bug (exit 1)."""
    import sqlite3

    return (UsageError, ValueError, TypeError, OSError, ArithmeticError, ImportError,
            MemoryError, sqlite3.Error)


def _message(exc: BaseException) -> str:
    """An exception as one line, in the command line's words."""
    from fastnn.train import DivergedError

    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, MemoryError):
        return "out of memory" + (f": {exc}" if str(exc) else "")
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    if isinstance(exc, DivergedError):
        text = text.replace("lower the learning rate", "lower --lr")
    return text


def _note_printer(command: str):
    """A ``warnings.showwarning`` that prints one line: ``fastnn babysit: note: ...``."""

    def show(message, category, filename, lineno, file=None, line=None):
        lines = str(message).strip().splitlines()
        print(f"{command}: note: {lines[0] if lines else category.__name__}", file=sys.stderr)

    return show


if __name__ == "__main__":        # python -m fastnn.cli, as python -m fastnn
    sys.exit(main())
