"""Every loss declared in fastnn/kinds.py (LOSSES) through a model: PyTorch's training step
by step, save and load, ONNX export against onnxruntime, the same bits at 1 to 4 threads,
and its settings checked. Parametrized over the declarations, so a loss added there joins
these tests without editing a test file."""

import pickle

import numpy as np
import onnxruntime as ort
import pytest
import torch

import fastnn
from fastnn import MLP, Adam, kinds
from fastnn.losses import LOSSES, get_loss

ROWS = kinds.LOSSES
IDS = [row.name for row in ROWS]

torch.set_num_threads(1)


def _targets(row, X, k=3):
    """Targets of loss ``row`` that depend on X: k classes, k labels or k columns."""
    s = X[:, :k] + 0.5 * X[:, k:2 * k]
    if row.targets == "classes":
        return np.argmax(s, axis=1)
    if row.targets == "labels":
        return (s > 0).astype(np.int64)
    if row.targets == "counts":
        return np.floor(np.exp(0.5 * s)).astype(np.float64)
    return 2 * s


def _loss(row):
    """The loss away from its defaults, if it has settings (so they must be carried)."""
    return LOSSES[row.name](**{name: default * (0.5 if how == "unit" else 0.37)
                               for name, default, how in row.settings})


def _data(n=120, d=6, seed=7):
    return np.random.default_rng(seed).standard_normal((n, d))


@pytest.mark.parametrize("row", [r for r in ROWS if r.torch], ids=[r.name for r in ROWS
                                                                    if r.torch])
def test_each_loss_trains_as_its_torch_loss_step_by_step(row):
    X = _data(40, 6, seed=3)
    Y = _targets(row, X)
    loss = _loss(row)
    model = MLP(hidden=(6,), loss=loss, batch_norm=False, activation="tanh", dtype="float64",
                seed=0)
    model.prepare(X, Y)
    dense = [x for x in model.layers if isinstance(x, fastnn.Dense)]
    net = torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.Tanh(),
                              torch.nn.Linear(6, 3)).double()
    with torch.no_grad():
        for layer, lin in zip(dense, (net[0], net[2])):
            lin.weight.copy_(torch.tensor(layer.params["W"].T))
            lin.bias.copy_(torch.tensor(layer.params["b"]))
    name, args = row.torch
    criterion = getattr(torch.nn, name)(**{key: loss.settings[ours] if isinstance(ours, str)
                                           else ours for key, ours in args.items()})
    Yt = torch.tensor(Y) if row.targets == "classes" else torch.tensor(Y, dtype=torch.float64)
    topt = torch.optim.Adam(net.parameters(), lr=0.02)
    Xt = torch.tensor(X)
    for step in range(1, 9):
        topt.zero_grad()
        value = criterion(net(Xt), Yt)
        value.backward()
        topt.step()
        history = model.fit(X, Y, epochs=1, batch_size=40, shuffle=False,
                            optimizer=model.optimizer or Adam(0.02))
        assert history["loss"][0] == pytest.approx(value.item(), rel=1e-9, abs=1e-12), step
        for layer, lin in zip(dense, (net[0], net[2])):
            np.testing.assert_allclose(layer.params["W"], lin.weight.detach().numpy().T,
                                       rtol=1e-9, atol=1e-12, err_msg=str(step))
            np.testing.assert_allclose(layer.params["b"], lin.bias.detach().numpy(),
                                       rtol=1e-9, atol=1e-12, err_msg=str(step))


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_a_model_with_the_loss_saves_and_loads(row, tmp_path):
    X = _data()
    y = _targets(row, X)
    model = MLP(hidden=(9, 5), loss=_loss(row), dropout=0.1, seed=2)
    model.fit(X, y, epochs=2, batch_size=16)
    model.save(tmp_path / "m.fnn", include_optimizer=True)
    back = fastnn.load(tmp_path / "m.fnn")
    assert back.loss == model.loss and type(back.loss) is LOSSES[row.name]
    assert back.get_config() == model.get_config()
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    assert back.evaluate(X, y) == model.evaluate(X, y)
    again = pickle.loads(pickle.dumps(model))
    assert again.loss == model.loss
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    model.fit(X, y, epochs=1, batch_size=16, seed=1)
    back.fit(X, y, epochs=1, batch_size=16, seed=1)
    np.testing.assert_array_equal(back.get_weights()["params"], model.get_weights()["params"])


@pytest.mark.parametrize("row", ROWS, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_model_with_the_loss_exports_to_onnx(row, dtype):
    X = _data(200)
    y = _targets(row, X)
    model = MLP(hidden=(12, 8), loss=_loss(row), dtype=dtype, seed=3)
    model.fit(X, y, epochs=3, batch_size=32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.to_onnx().SerializeToString(), options,
                                providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in sess.get_outputs()],
                   sess.run(None, {"X": X.astype(dtype)})))
    if model.loss.classifier:
        np.testing.assert_allclose(got["probabilities"], model.predict_proba(X), rtol=0,
                                   atol=1e-5)
        np.testing.assert_array_equal(got["label"], model.predict(X))
    else:
        np.testing.assert_allclose(got["predictions"], model.predict(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_loss_gives_the_same_bits_at_1_to_4_threads(row, dtype):
    X = np.repeat(_data(), 30, axis=0)        # big enough for the kernels to fork threads
    y = _targets(row, X)
    params = []
    for n_threads in (1, 2, 3, 4):
        model = MLP(hidden=(256, 128), loss=_loss(row), dtype=dtype, n_threads=n_threads,
                    seed=4)
        history = model.fit(X, y, epochs=1, batch_size=512, seed=0)
        params.append(model.get_weights()["params"])
        if n_threads > 1:
            np.testing.assert_array_equal(params[-1], params[0], err_msg=str(n_threads))
        assert np.isfinite(history["loss"][0])


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_the_loss_class_describes_and_checks_its_declaration(row):
    cls = LOSSES[row.name]
    assert cls is getattr(fastnn.losses, row.cls)
    assert row.formula in cls.__doc__
    assert get_loss(row.name) == cls() and get_loss(row.name).name == row.name
    assert get_loss(row.name, {n: d for n, d, _ in row.settings}).settings == cls().settings
    with pytest.raises(TypeError, match="settings"):
        cls(no_such_setting=1.0)
    for name, _, _ in row.settings:
        with pytest.raises(ValueError, match=name):
            cls(**{name: -1.0})
        with pytest.raises(ValueError, match=name):
            MLP(loss=cls(**{name: float("inf")}))


def test_an_unknown_loss_is_refused_naming_the_losses():
    with pytest.raises(ValueError, match="loss must be one of .*huber"):
        MLP(loss="hubber")
    with pytest.raises(TypeError, match="settings go with a loss's name"):
        get_loss(LOSSES["huber"](), {"delta": 2.0})
