"""Every activation and optimizer rule declared in fastnn/kinds.py: PyTorch's training
step by step, the NumPy twins, save and load, the same bits at 1 to 4 threads, and the
initialization an activation declares. Parametrized over the declarations, so a kind
added there joins these tests (and the kernels' parity, gradient and ONNX tests)
without editing a test file."""

import numpy as np
import pytest
import torch

import fastnn
from fastnn import MLP, Adam, kinds

ROWS = kinds.ACTIVATIONS
IDS = [row.name for row in ROWS]

torch.set_num_threads(1)


def _torch_activation(row):
    cls = getattr(torch.nn, row.layer)          # fastnn's layer names are PyTorch's
    return cls() if row.alpha is None else cls(row.alpha)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_mlp_with_the_activation_trains_as_torch_step_by_step(row):
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((40, 5)), rng.standard_normal((40, 3))
    model = MLP(hidden=(6,), loss="mse", batch_norm=False, activation=row.name,
                dtype="float64", seed=0)
    model.prepare(X, Y)
    dense = [x for x in model.layers if isinstance(x, fastnn.Dense)]
    net = torch.nn.Sequential(torch.nn.Linear(5, 6), _torch_activation(row),
                              torch.nn.Linear(6, 3)).double()
    with torch.no_grad():
        for layer, lin in zip(dense, (net[0], net[2])):
            lin.weight.copy_(torch.tensor(layer.params["W"].T))
            lin.bias.copy_(torch.tensor(layer.params["b"]))
    topt = torch.optim.Adam(net.parameters(), lr=0.02)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    for step in range(1, 9):
        topt.zero_grad()
        value = torch.nn.MSELoss()(net(Xt), Yt)
        value.backward()
        topt.step()
        history = model.fit(X, Y, epochs=1, batch_size=40, shuffle=False,
                            optimizer=model.optimizer or Adam(0.02))
        assert history["loss"][0] == pytest.approx(value.item(), rel=1e-9, abs=1e-12), step
        for layer, lin in zip(dense, (net[0], net[2])):
            np.testing.assert_allclose(layer.params["W"], lin.weight.detach().numpy().T,
                                       rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(layer.params["b"], lin.bias.detach().numpy(),
                                       rtol=1e-9, atol=1e-12)


def _data():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((150, 6))
    return X, (X[:, 0] + X[:, 1] ** 2 > 1).astype(int) + (X[:, 2] > 0.5)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_a_model_with_the_activation_saves_and_loads(row, tmp_path):
    X, y = _data()
    model = MLP(hidden=(9, 5), activation=row.name, dropout=0.1, seed=2)
    model.fit(X, y, epochs=2, batch_size=16)
    model.save(tmp_path / "m.fnn", include_optimizer=True)
    back = fastnn.load(tmp_path / "m.fnn")
    assert back.activation == row.name
    assert all(type(a) is type(b) for a, b in zip(model.layers, back.layers))
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    model.fit(X, y, epochs=1, batch_size=16, seed=1)
    back.fit(X, y, epochs=1, batch_size=16, seed=1)
    np.testing.assert_array_equal(back.get_weights()["params"], model.get_weights()["params"])


@pytest.mark.parametrize("row", ROWS, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_activation_gives_the_same_bits_at_1_to_4_threads(row, dtype):
    X, y = _data()
    X = np.repeat(X, 30, axis=0)          # big enough for the kernels to fork threads
    y = np.repeat(y, 30)
    params = []
    for n_threads in (1, 2, 3, 4):
        model = MLP(hidden=(256, 128), activation=row.name, dtype=dtype, n_threads=n_threads,
                    seed=4)
        model.fit(X, y, epochs=1, batch_size=512, seed=0)
        params.append(model.get_weights()["params"])
        if n_threads > 1:
            np.testing.assert_array_equal(params[-1], params[0], err_msg=str(n_threads))


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_a_dense_layer_before_the_activation_takes_the_initialization_it_declares(row):
    model = fastnn.Sequential([fastnn.Dense(400), fastnn.layers.ACTIVATIONS[row.name](),
                               fastnn.Dense(None), fastnn.Softmax()], seed=0)
    model.build(300, 3)
    std = float(np.std(model.layers[0].params["W"]))
    want = np.sqrt((2.0 if row.init == "he" else 1.0) / 300)
    assert std == pytest.approx(want, rel=0.02)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_the_layer_class_describes_its_declaration(row):
    cls = getattr(fastnn, row.layer)
    assert cls is fastnn.layers.ACTIVATIONS[row.name]
    assert row.forward in cls.__doc__
    layer = cls() if row.alpha is None else cls(alpha=0.2)
    assert fastnn.layers.layer_from_config({"class": row.layer,
                                            "config": layer.get_config()}).get_config() == \
        layer.get_config()
    if row.alpha is None:
        with pytest.raises(TypeError):
            cls(alpha=0.2)
    else:
        with pytest.raises(ValueError, match="alpha"):
            cls(alpha=-1.0)


# ---------------------------------------------------------------- the docs

ROOT = __import__("pathlib").Path(fastnn.__file__).parent.parent
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"


def test_the_architecture_docs_list_the_declared_activations():
    text = ARCHITECTURE.read_text()
    table = text.split("<!-- activations: generated from fastnn/kinds.py -->")[1]
    table = table.split("<!-- end of activations -->")[0].strip().splitlines()[2:]
    want = [f"| {r.name} | `{r.layer}` | `{r.forward}` | `{r.backward}` | {r.init} |"
            for r in ROWS]
    assert table == want


def test_the_architecture_docs_list_the_declared_optimizer_rules():
    text = ARCHITECTURE.read_text()
    table = text.split("<!-- rules: generated from fastnn/kinds.py -->")[1]
    table = table.split("<!-- end of rules -->")[0].strip().splitlines()[2:]
    want = [f"| {r.name} | `{r.optimizer}` | {', '.join(r.slots) or '-'} | "
            f"{', '.join(f'{n}={d}' for n, d, _ in r.hyper) or '-'} | "
            f"{r.torch[0] if r.torch else '-'} |" for r in RULES]
    assert table == want


def test_the_architecture_docs_list_the_declared_losses():
    text = ARCHITECTURE.read_text()
    table = text.split("<!-- losses: generated from fastnn/kinds.py -->")[1]
    table = table.split("<!-- end of losses -->")[0].strip().splitlines()[2:]
    want = [f"| {r.name} | `{r.cls}` | `{r.formula}` | {r.targets} | {r.output or '-'} | "
            f"{r.onnx} | {', '.join(f'{n}={d}' for n, d, _ in r.settings) or '-'} | "
            f"{r.torch[0] if r.torch else '-'} |" for r in kinds.LOSSES]
    assert table == want


def test_the_how_to_add_recipe_names_what_exists_for_every_declared_kind():
    """Each cell of the recipe, its placeholders filled in with each declared row of its
    kind: the files it names exist and the functions it names are in them."""
    import re

    from fastnn import _reference

    recipe = ARCHITECTURE.read_text().split("<!-- recipe -->")[1]
    lines = recipe.split("<!-- end of recipe -->")[0].strip().splitlines()
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    kinds_by_column = {"activation": kinds.ACTIVATIONS, "optimizer rule": kinds.RULES,
                       "loss": kinds.LOSSES}
    assert cells[0][1:] == list(kinds_by_column)
    checked, missing = 0, []
    for step in cells[2:]:
        for kind, cell in zip(cells[0][1:], step[1:]):
            for row in kinds_by_column[kind]:
                module, function = row.kernel.split(".") if kind == "loss" else ("", "")
                fill = [t.replace("<name>", row.name).replace("<module>", module)
                        .replace("<function>", function)
                        for t in re.findall(r"`([^`]+)`", step[0] + " " + cell)]
                paths = [ROOT / t for t in fill if t.startswith("fastnn/")]
                missing += [str(p) for p in paths if not p.exists()]
                for token in fill:
                    if token.startswith("fastnn/"):
                        continue
                    name = re.split(r"[(.]", token)[0] if "(" in token else token.split(".")[-1]
                    if token.isupper():                         # a table of fastnn/kinds.py
                        found = hasattr(kinds, token)
                    elif "(" not in token:            # a type or a field: in the files named
                        found = any(re.search(rf"\b{name}\b", p.read_text()) for p in paths)
                    elif any(p.suffix == ".pxd" for p in paths):
                        found = any(re.search(rf"cdef inline \w+\*? ?{re.escape(name)}\(",
                                              p.read_text()) for p in paths)
                    else:
                        found = callable(getattr(_reference, name, None))
                    checked += 1
                    if not found:
                        missing.append(f"{kind} {row.name}: {token}")
    assert checked > 3 * (len(kinds.ACTIVATIONS) + len(kinds.RULES) + len(kinds.LOSSES))
    assert not missing, missing


def test_the_files_and_names_the_architecture_docs_mention_exist():
    import re

    text = ARCHITECTURE.read_text()
    source = "\n".join(p.read_text() for p in (ROOT / "fastnn").rglob("*")
                       if p.suffix in (".py", ".pyx", ".pxd") and p.is_file())
    source += (ROOT / "setup.py").read_text()
    missing = []
    for token in set(re.findall(r"`([^`\s]+)`", text)):
        path = token.split(":")[0].rstrip("/")
        if path.startswith(("fastnn/", "tests/", "docs/", "bench/")) and "<" not in path \
                and "/_new" not in path:          # the recipe's placeholder names
            if "*" in path:
                found = list(ROOT.glob(path))
            else:
                found = [ROOT / path] if (ROOT / path).exists() else []
            if not found:
                missing.append(token)
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", token) and not token.startswith(
                ("_new", "new")):
            name = token.split(".")[-1]
            if not re.search(rf"\b{re.escape(name)}\b", source):
                missing.append(token)
    assert not missing, sorted(missing)


# ---------------------------------------------------------------- optimizer rules

RULES = kinds.RULES
RULE_IDS = [row.name for row in RULES]


@pytest.mark.parametrize("row", RULES, ids=RULE_IDS)
@pytest.mark.parametrize("shape", [(1,), (7, 3), (300, 200)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_each_rules_update_matches_its_numpy_twin(row, shape, dtype, n_threads):
    from conftest import assert_close

    from fastnn import _reference as ref
    from fastnn import ops

    rng = np.random.default_rng(5)
    w = rng.standard_normal(shape).astype(dtype)
    mine, theirs = [w.copy()], [w.copy()]
    states = [np.abs(rng.standard_normal(shape)).astype(dtype) * 0.1 for _ in row.slots]
    mine += [s.copy() for s in states]
    theirs += [s.copy() for s in states]
    hyper = {name: default for name, default, _ in row.hyper}
    for step in (1, 2, 3):
        g = rng.standard_normal(shape).astype(dtype)
        extra = [step] if row.step else []
        getattr(ops, f"{row.name}_update")(mine[0], g, *mine[1:], 0.01, *extra,
                                           weight_decay=0.05, n_threads=n_threads, **hyper)
        getattr(ref, f"{row.name}_update")(theirs[0], g, *theirs[1:], 0.01,
                                           *extra, weight_decay=0.05, **hyper)
        for got, want in zip(mine, theirs):
            assert_close(got, want, np.dtype(dtype))


def _torch_optimizer(row, opt, groups):
    name, names = row.torch
    hyper = dict(zip([h[0] for h in row.hyper], opt.hyper()))
    kwargs = {key: tuple(hyper[n] for n in ours) if isinstance(ours, tuple)
              else hyper[ours] if isinstance(ours, str) else ours for key, ours in names.items()}
    return getattr(torch.optim, name)(groups, lr=opt.lr, **kwargs)


@pytest.mark.parametrize("row", [r for r in RULES if r.torch], ids=[r.name for r in RULES
                                                                     if r.torch])
def test_each_rule_trains_as_its_torch_optimizer_with_defaults_step_by_step(row):
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)       # torch's scalar state (NAdam's mu product)
    try:
        rng = np.random.default_rng(3)
        X, Y = rng.standard_normal((40, 5)), rng.standard_normal((40, 3))
        model = MLP(hidden=(6,), loss="mse", batch_norm=False, activation="tanh",
                    dtype="float64", seed=0)
        model.prepare(X, Y)
        opt = getattr(fastnn.optim, row.optimizer)()
        dense = [x for x in model.layers if isinstance(x, fastnn.Dense)]
        net = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(),
                                  torch.nn.Linear(6, 3)).double()
        with torch.no_grad():
            for layer, lin in zip(dense, (net[0], net[2])):
                lin.weight.copy_(torch.tensor(layer.params["W"].T))
                lin.bias.copy_(torch.tensor(layer.params["b"]))
        groups = [{"params": [net[0].weight, net[2].weight], "weight_decay": opt.weight_decay},
                  {"params": [net[0].bias, net[2].bias], "weight_decay": 0.0}]
        topt = _torch_optimizer(row, opt, groups)
        Xt, Yt = torch.tensor(X), torch.tensor(Y)
        for step in range(1, 9):
            topt.zero_grad()
            value = torch.nn.MSELoss()(net(Xt), Yt)
            value.backward()
            topt.step()
            model.fit(X, Y, epochs=1, batch_size=40, shuffle=False, optimizer=opt)
            for layer, lin in zip(dense, (net[0], net[2])):
                np.testing.assert_allclose(layer.params["W"], lin.weight.detach().numpy().T,
                                           rtol=1e-9, atol=1e-12, err_msg=str(step))
                np.testing.assert_allclose(layer.params["b"], lin.bias.detach().numpy(),
                                           rtol=1e-9, atol=1e-12, err_msg=str(step))
    finally:
        torch.set_default_dtype(default)


@pytest.mark.parametrize("row", RULES, ids=RULE_IDS)
def test_training_resumes_from_a_checkpoint_with_each_rule(row, tmp_path):
    X, y = _data()
    model = MLP(hidden=(9,), seed=2)
    opt = getattr(fastnn, row.optimizer)()
    model.fit(X, y, epochs=2, batch_size=16, optimizer=opt)
    model.save(tmp_path / "m.fnn", include_optimizer=True)
    back = fastnn.load(tmp_path / "m.fnn")
    assert type(back.optimizer) is type(opt) and back.optimizer.get_config() == opt.get_config()
    model.fit(X, y, epochs=2, batch_size=16, seed=1)
    back.fit(X, y, epochs=2, batch_size=16, seed=1)
    np.testing.assert_array_equal(back.get_weights()["params"], model.get_weights()["params"])


@pytest.mark.parametrize("row", RULES, ids=RULE_IDS)
def test_each_rule_gives_the_same_bits_at_1_to_4_threads(row):
    X, y = _data()
    X, y = np.repeat(X, 30, axis=0), np.repeat(y, 30)
    params = []
    for n_threads in (1, 2, 3, 4):
        model = MLP(hidden=(256, 128), n_threads=n_threads, seed=4)
        model.fit(X, y, epochs=1, batch_size=512, seed=0,
                  optimizer=getattr(fastnn, row.optimizer)())
        params.append(model.get_weights()["params"])
        np.testing.assert_array_equal(params[-1], params[0], err_msg=str(n_threads))
