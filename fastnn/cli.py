"""The ``fastnn`` command line.

    fastnn train   [--data digits | --data FILE.csv --target COLUMN] [options]
    fastnn search  [data options] --trials 40 --jobs 2 --study study.db [--rounds 3] [--scheduler asha]
    fastnn babysit [data and model options] --epochs 30 --checkpoint-dir DIR [--resume]
    fastnn study show study.db
    fastnn study report study.db -o report.html     (or a babysitting run's directory)
    fastnn predict MODEL.fnn FILE.csv [--out PREDICTIONS.csv] [--proba]
    fastnn export  MODEL.fnn MODEL.onnx [--opset 17]
    fastnn info

Bad arguments or files give a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import sys

import numpy as np

EXIT_USAGE = 2


class UsageError(Exception):
    """A problem with what the user asked for: reported in one line, exit 2."""


def _hidden(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths like 128,64; got {text!r}") from None
    if any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"widths must be positive; got {text!r}")
    return widths


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1); got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text}")
    return value


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits",
                   help="'digits' (bundled, the default) or a CSV file with a header row")
    p.add_argument("--target", help="label column of the CSV file")
    p.add_argument("--val-split", type=_fraction, default=0.25,
                   help="fraction held out for validation, stratified (default 0.25)")
    p.add_argument("--seed", type=int, default=0, help="seed for the split, weights and shuffling")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="threads for the kernels (default: all cores)")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hidden", type=_hidden, default=(128, 64), help="hidden widths (default 128,64)")
    p.add_argument("--no-batch-norm", action="store_true", help="no batch normalization")
    p.add_argument("--bn-position", choices=("before", "after"), default="before",
                   help="batch norm before (default) or after the activation")
    from fastnn.layers import ACTIVATIONS
    from fastnn.optim import OPTIMIZERS

    p.add_argument("--activation", choices=tuple(ACTIVATIONS), default="relu")
    p.add_argument("--dropout", type=float, default=0.0,
                   help="dropout rate after each hidden layer, in [0, 1) (default 0)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="adam")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    p.add_argument("--beta", type=float, default=None,
                   help="momentum's beta, Adam's and AdamW's beta1 (default 0.9)")
    p.add_argument("--weight-decay", type=float, default=None,
                   help="L2 on the weight matrices (decoupled for adamw; default 0, "
                        "adamw 0.01)")
    p.add_argument("--lr-decay", type=float, default=0.0,
                   help="inverse-time decay rate: lr = lr0 / (1 + rate * epoch) (default 0)")
    p.add_argument("--epochs", type=_positive_int, default=20)
    p.add_argument("--batch-size", type=_positive_int, default=32)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastnn", description="Fast CPU training of MLP classifiers.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train an MLP and report its accuracy")
    _add_data_options(p)
    _add_model_options(p)
    p.add_argument("--save", metavar="PATH", help="write the trained model here (e.g. model.fnn)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("search", help="search hyperparameters: random, right scale, parallel")
    _add_data_options(p)
    p.add_argument("--trials", type=_positive_int, default=40, help="trials to run (default 40)")
    p.add_argument("--jobs", type=_positive_int, default=2, help="trials at once (default 2)")
    p.add_argument("--study", default="study.db", help="SQLite file; an existing study continues")
    p.add_argument("--name", default="default", help="study name within the file")
    p.add_argument("--rounds", type=_positive_int, default=1, help="coarse-to-fine rounds")
    p.add_argument("--top-k", type=_positive_int, default=5,
                   help="best trials each zoom centres on (default 5)")
    p.add_argument("--scheduler", choices=("none", "asha", "median"), default="none",
                   help="early stopping of poor trials")
    p.add_argument("--sampler", choices=("random", "sobol", "halton"), default="random")
    p.add_argument("--executor", choices=("thread", "process"), default="thread")
    p.add_argument("--epochs", type=_positive_int, default=20, help="epochs per trial (default 20)")
    p.add_argument("--timeout", type=float, default=None, help="seconds after which no trial starts")
    p.add_argument("--save", metavar="PATH", default="best.fnn",
                   help="where the best configuration's model goes (default best.fnn)")
    p.set_defaults(run=cmd_search)

    p = sub.add_parser("babysit", help="train one model, watching it: checkpoints, rollbacks, lr nudges")
    _add_data_options(p)
    _add_model_options(p)
    p.set_defaults(epochs=30)  # epochs trained, rolled-back ones included
    p.add_argument("--checkpoint-dir", default="babysit", help="run directory (default babysit)")
    p.add_argument("--resume", action="store_true", help="continue the run in --checkpoint-dir")
    p.set_defaults(run=cmd_babysit)

    p = sub.add_parser("study", help="look at a stored study")
    study_sub = p.add_subparsers(dest="study_command", required=True)
    q = study_sub.add_parser("show", help="settings, trial counts, leaderboard")
    q.add_argument("storage", help="the study's SQLite file")
    q.add_argument("--name", default="default")
    q.add_argument("--top", type=_positive_int, default=10)
    q.set_defaults(run=cmd_study_show)
    q = study_sub.add_parser("report", help="one self-contained HTML page: settings, leaderboard, "
                             "figures, zoom history, retests, failures (needs matplotlib)")
    q.add_argument("source", help="a study's SQLite file, or a babysitting run's directory")
    q.add_argument("-o", "--out", default="report.html", help="the page (default report.html)")
    q.add_argument("--name", default="default", help="study name within the file (default default)")
    q.set_defaults(run=cmd_study_report)

    p = sub.add_parser("predict", help="predict the labels of a CSV file with a saved model")
    p.add_argument("model", help="a model file written by 'fastnn train --save'")
    p.add_argument("csv", help="CSV file with the model's feature columns")
    p.add_argument("--out", help="write predictions here (default: standard output)")
    p.add_argument("--proba", action="store_true", help="also write each class's probability")
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser("export", help="write a saved model as an ONNX file (needs onnx)")
    p.add_argument("model", help="a model file written by 'fastnn train --save'")
    p.add_argument("onnx", help="the ONNX file to write (e.g. model.onnx)")
    p.add_argument("--opset", type=_positive_int, default=None, help="ONNX opset (default 17)")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("info", help="show the build: version, OpenMP, threads, BLAS")
    p.set_defaults(run=lambda args: _info())
    return parser


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
    if not args.target:
        raise UsageError("--data FILE.csv needs --target COLUMN (the label column)")
    return read_csv(args.data, target=args.target)


def make_optimizer(name: str, lr: float, beta: float | None, weight_decay: float | None = None):
    from fastnn.optim import OPTIMIZERS

    kwargs = {"lr": lr}
    if beta is not None:
        if name not in ("adam", "adamw", "momentum"):
            raise UsageError(f"--beta applies to adam, adamw and momentum, not to {name}")
        kwargs["beta" if name == "momentum" else "beta1"] = beta
    if weight_decay is not None:
        kwargs["weight_decay"] = weight_decay
    try:
        return OPTIMIZERS[name](**kwargs)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _split(args):
    from fastnn.datasets import train_test_split

    X, y, names = load_data(args)
    return (*train_test_split(X, y, test_size=args.val_split, seed=args.seed), names)


def _model(args, names):
    """The MLP the model options describe, knowing its input columns' names."""
    from fastnn import MLP

    try:
        model = MLP(hidden=args.hidden, batch_norm=not args.no_batch_norm,
                    bn_position=args.bn_position, activation=args.activation,
                    dropout=args.dropout, dtype=args.dtype, n_threads=args.threads,
                    seed=args.seed)
    except ValueError as exc:
        raise UsageError(f"--dropout: {exc}") from None
    model.feature_names_in_ = names
    return model


def cmd_train(args) -> int:
    from fastnn import InverseTimeDecay

    X_tr, X_val, y_tr, y_val, names = _split(args)
    model = _model(args, names)
    optimizer = make_optimizer(args.optimizer, args.lr, args.beta, args.weight_decay)
    decay = InverseTimeDecay(args.lr_decay) if args.lr_decay else None
    print(f"training {model!r} on {X_tr.shape[0]} samples, validating on {X_val.shape[0]}, "
          f"{len(np.union1d(y_tr, y_val))} classes", flush=True)
    model.fit(X_tr, y_tr, epochs=args.epochs, batch_size=args.batch_size, optimizer=optimizer,
              lr_decay=decay, validation_data=(X_val, y_val), seed=args.seed,
              verbose=0 if args.quiet else 1)
    train_acc = model.evaluate(X_tr, y_tr)["accuracy"]
    val_acc = model.evaluate(X_val, y_val)["accuracy"]
    print(f"train accuracy {train_acc:.4f}  validation accuracy {val_acc:.4f}")
    if args.save:
        model.save(args.save)
        print(f"saved {args.save}")
    return 0


def _describe(params: dict) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def cmd_search(args) -> int:
    import os
    import time

    from fastnn.search import ASHA, MedianStopping, MLPObjective, Study, default_mlp_space

    X_tr, X_val, y_tr, y_val, names = _split(args)
    objective = MLPObjective(X_tr, y_tr, X_val, y_val, max_epochs=args.epochs)
    scheduler = {"none": None, "asha": ASHA(), "median": MedianStopping()}[args.scheduler]
    if os.path.isdir(args.study):
        raise UsageError(f"--study {args.study} is a directory; give a file name")
    study = Study(args.study, space=default_mlp_space(), direction="maximize", seed=args.seed,
                  name=args.name, sampler=args.sampler, data_fingerprint=objective.fingerprint())
    with study:
        print(f"study {args.name!r} in {args.study}: {len(study.trials)} earlier trials; "
              f"running {args.trials} on {X_tr.shape[0]} samples ({X_val.shape[0]} to validate), "
              f"{args.jobs} at once", flush=True)
        start = time.perf_counter()
        study.optimize(objective, args.trials, n_jobs=args.jobs, executor=args.executor,
                       scheduler=scheduler, timeout=args.timeout, rounds=args.rounds,
                       top_k=args.top_k, progress=True)
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
    return 0


def cmd_babysit(args) -> int:
    from fastnn.search import Babysitter

    if args.lr_decay:
        raise UsageError("babysit sets the learning rate itself; --lr-decay does not apply")
    X_tr, X_val, y_tr, y_val, names = _split(args)
    if args.resume:
        sitter = Babysitter.resume(args.checkpoint_dir, X_tr, y_tr, (X_val, y_val))
        print(f"resumed {args.checkpoint_dir} at epoch {sitter.epoch}, lr {sitter.lr:.3g}")
    else:
        sitter = Babysitter(_model(args, names), X_tr, y_tr, (X_val, y_val), args.checkpoint_dir,
                            make_optimizer(args.optimizer, args.lr, args.beta, args.weight_decay),
                            batch_size=args.batch_size, seed=args.seed)
    seen = len(sitter.events())
    for _ in range(args.epochs):
        sitter.auto(1)
        for event in sitter.events()[seen:]:
            print(_event_line(event), flush=True)
        seen = len(sitter.events())
    last = sitter.curve[-1] if sitter.curve else {}
    print(f"epoch {sitter.epoch}: validation accuracy {last.get('val_accuracy', float('nan')):.4f}, "
          f"lr {sitter.lr:.3g}; checkpoints and events.jsonl in {args.checkpoint_dir}")
    return 0


def _event_line(event: dict) -> str:
    kind = event["event"]
    if kind == "epoch":
        return (f"epoch {event['epoch']:>3}  loss {event['loss']:.4f}  acc {event['accuracy']:.4f}  "
                f"val_loss {event['val_loss']:.4f}  val_acc {event['val_accuracy']:.4f}  "
                f"lr {event['lr']:.3g}")
    skip = {"time", "event", "epoch"}
    return f"  {kind}: " + ", ".join(f"{k}={v}" for k, v in event.items() if k not in skip)


def cmd_study_show(args) -> int:
    import os
    from collections import Counter

    from fastnn.search import Study

    if not os.path.exists(args.storage):
        raise UsageError(f"no study file {args.storage}")
    with Study(args.storage, name=args.name) as study:
        trials = study.trials
        counts = Counter(t.state.value for t in trials)
        print(f"study {study.name!r} in {args.storage}: direction {study.direction}, "
              f"seed {study.seed}, sampler {study.sampler}")
        print("trials: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
        if any(t.value is not None for t in study.ranked()):
            best = study.best
            print(f"best: trial {best.number}, value {best.value:.4f}, {_describe(best.params)}\n")
            print(study.leaderboard(args.top))
    return 0


def cmd_study_report(args) -> int:
    import os

    from fastnn.plot import report

    if not os.path.exists(args.source):
        raise UsageError(f"{args.source} does not exist (give a study file or a babysitting "
                         "run's directory)")
    try:
        report(args.source, args.out, name=args.name)
    except ImportError as exc:       # matplotlib missing
        raise UsageError(str(exc)) from None
    print(f"wrote {args.out}")
    return 0


def cmd_predict(args) -> int:
    import fastnn
    from fastnn.datasets._csv import read_csv

    model = fastnn.load(args.model)
    names = getattr(model, "feature_names_in_", None)
    X, _, names = read_csv(args.csv, features=names)
    proba = model.predict_proba(X)
    labels = model.classes_[np.argmax(proba, axis=1)]
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    try:
        writer = csv.writer(out)
        header = ["prediction"] + ([f"proba_{c}" for c in model.classes_] if args.proba else [])
        writer.writerow(header)
        for label, row in zip(labels, proba):
            writer.writerow([label] + ([f"{p:.6g}" for p in row] if args.proba else []))
    finally:
        if args.out:
            out.close()
    if args.out:
        print(f"wrote {len(labels)} predictions to {args.out}", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    import fastnn

    model = fastnn.load(args.model)
    try:
        proto = model.to_onnx(args.onnx, opset=args.opset)
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    outputs = ", ".join(out.name for out in proto.graph.output)
    print(f"wrote {args.onnx}: input X ({model.n_features_in_} features, {model.dtype.name}), "
          f"outputs {outputs}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, ValueError, TypeError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"fastnn {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"fastnn {args.command}: interrupted", file=sys.stderr)
        return 130
