"""The ``fastnn`` command line.

    fastnn train [--data digits | --data FILE.csv --target COLUMN] [options]
    fastnn predict MODEL.fnn FILE.csv [--out PREDICTIONS.csv] [--proba]
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
    p.add_argument("--activation", choices=("relu", "leaky_relu", "tanh", "sigmoid"), default="relu")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--optimizer", choices=("adam", "sgd", "momentum", "rmsprop"), default="adam")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    p.add_argument("--beta", type=float, default=None,
                   help="momentum's beta, Adam's beta1 (default 0.9)")
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

    p = sub.add_parser("predict", help="predict the labels of a CSV file with a saved model")
    p.add_argument("model", help="a model file written by 'fastnn train --save'")
    p.add_argument("csv", help="CSV file with the model's feature columns")
    p.add_argument("--out", help="write predictions here (default: standard output)")
    p.add_argument("--proba", action="store_true", help="also write each class's probability")
    p.set_defaults(run=cmd_predict)

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


def make_optimizer(name: str, lr: float, beta: float | None):
    from fastnn import SGD, Adam, Momentum, RMSprop

    if name == "adam":
        return Adam(lr=lr) if beta is None else Adam(lr=lr, beta1=beta)
    if name == "momentum":
        return Momentum(lr=lr) if beta is None else Momentum(lr=lr, beta=beta)
    if beta is not None:
        raise UsageError(f"--beta applies to adam and momentum, not to {name}")
    return SGD(lr=lr) if name == "sgd" else RMSprop(lr=lr)


def cmd_train(args) -> int:
    from fastnn import MLP, InverseTimeDecay
    from fastnn.datasets import train_test_split

    X, y, names = load_data(args)
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=args.val_split, seed=args.seed)
    model = MLP(hidden=args.hidden, batch_norm=not args.no_batch_norm, bn_position=args.bn_position,
                activation=args.activation, dtype=args.dtype, n_threads=args.threads, seed=args.seed)
    model.feature_names_in_ = names
    optimizer = make_optimizer(args.optimizer, args.lr, args.beta)
    decay = InverseTimeDecay(args.lr_decay) if args.lr_decay else None
    print(f"training {model!r} on {X_tr.shape[0]} samples, validating on {X_val.shape[0]}, "
          f"{len(np.unique(y))} classes", flush=True)
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
