"""The robust losses of the residual r = a - y: absolute error, Huber's, log-cosh.

Each is a cost term and its derivative in fastbp.numerics.formulas, compiled
into every backend (the oracle-agreement and finite-difference tests run them
through conftest.OUTPUT_COSTS); here: the formulas at their edges, the
gradients against PyTorch's autograd, the estimator, the model file and the
command line.
"""

import math

import numpy as np
import pytest
from conftest import TOLERANCE

from fastbp import Network, functional
from fastbp.cli import main
from fastbp.numerics.formulas import ABSOLUTE_ERROR, HUBER, LOG_COSH, cost_derivative, cost_term

ROBUST = ["absolute_error", "huber", "log_cosh"]
BACKENDS = ["numpy", "reference", "serial", "parallel"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_cosh_never_overflows_and_tends_to_the_absolute_error_minus_log_2(dtype):
    for r in (0.0, 1e-3, 30.0, 1e4, 1e30):
        expected = math.log(math.cosh(r)) if r < 700 else r - math.log(2.0)
        term = cost_term((LOG_COSH, 0.0), dtype(r), dtype(0.0))
        assert np.isfinite(term) and term == pytest.approx(expected, rel=1e-6, abs=1e-7)
        assert cost_derivative((LOG_COSH, 0.0), dtype(-r), dtype(0.0)) == pytest.approx(-math.tanh(r))


def test_huber_is_quadratic_within_epsilon_linear_beyond_and_continuous_at_the_joint():
    epsilon = 0.5
    cost = (HUBER, epsilon)
    assert cost_term(cost, 0.3, 0.0) == pytest.approx(0.5 * 0.3**2)
    assert cost_term(cost, -2.0, 0.0) == pytest.approx(epsilon * (2.0 - epsilon / 2))
    assert cost_term(cost, epsilon, 0.0) == pytest.approx(cost_term(cost, epsilon + 1e-12, 0.0))
    assert [cost_derivative(cost, r, 0.0) for r in (-3.0, -0.2, 0.2, 3.0)] == [-epsilon, -0.2, 0.2, epsilon]


def test_the_absolute_errors_gradient_is_the_sign_and_zero_at_zero():
    cost = (ABSOLUTE_ERROR, 0.0)
    assert [cost_derivative(cost, a, 1.0) for a in (0.0, 1.0, 2.5)] == [-1.0, 0.0, 1.0]
    assert cost_term(cost, -1.5, 1.0) == 2.5


def torch_gradients(network, X, Y, epsilon):
    """dC/dW^l and dC/db^l by PyTorch's autograd, C written in torch as the notation defines it."""
    torch = pytest.importorskip("torch")
    dtype = getattr(torch, network.dtype.name)
    W = [None] + [torch.tensor(network.W[l], dtype=dtype, requires_grad=True) for l in range(1, network.L + 1)]
    b = [None] + [torch.tensor(network.b[l], dtype=dtype, requires_grad=True) for l in range(1, network.L + 1)]
    a = torch.tensor(X, dtype=dtype)
    for l in range(1, network.L + 1):
        z = a @ W[l].T + b[l]
        a = torch.tanh(z) if l < network.L else z
    r = a - torch.tensor(Y, dtype=dtype)
    if network.cost == "absolute_error":
        terms = r.abs()
    elif network.cost == "huber":
        terms = torch.nn.functional.huber_loss(a, torch.tensor(Y, dtype=dtype), reduction="none", delta=epsilon)
    else:
        terms = torch.log(torch.cosh(r))
    n_samples = X.shape[0]
    decay = sum((W[l] ** 2).sum() for l in range(1, network.L + 1))
    cost = terms.sum() / n_samples + network.l2 / (2 * n_samples) * decay
    cost.backward()
    return [W[l].grad.numpy() for l in range(1, network.L + 1)], [b[l].grad.numpy() for l in range(1, network.L + 1)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cost", ROBUST)
def test_gradients_agree_with_pytorch_autograd(cost, backend, dtype):
    rng = np.random.default_rng(5)
    network = Network([5, 6, 4, 3], "tanh", "identity", cost, l2=0.3, dtype=dtype, seed=1, huber_epsilon=0.8)
    X = rng.normal(size=(9, 5))
    Y = 2 * rng.normal(size=(9, 3))
    dW_torch, db_torch = torch_gradients(network, X, Y, 0.8)
    a = functional.forward(network, X, backend)
    dW, db = functional.gradients(network, a, functional.deltas(network, a, Y, backend), backend)
    for l in range(1, network.L + 1):
        np.testing.assert_allclose(dW[l], dW_torch[l - 1], rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
        np.testing.assert_allclose(db[l], db_torch[l - 1], rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def test_a_huber_network_keeps_its_epsilon_through_save_and_load(tmp_path):
    network = Network([2, 3, 1], "relu", "identity", "huber", seed=0, huber_epsilon=0.25)
    network.save(tmp_path / "huber.npz")
    loaded = Network.load(tmp_path / "huber.npz")
    assert (loaded.cost, loaded.huber_epsilon) == ("huber", 0.25)
    assert Network([2, 3, 1], "relu", "identity", "mse", seed=0).to_arrays().keys() == network.to_arrays().keys() - {
        "huber_epsilon"
    }


@pytest.mark.parametrize(
    "huber_epsilon, error", [(0.0, ValueError), (-1.0, ValueError), (np.nan, ValueError), ("1", TypeError)]
)
def test_a_bad_huber_epsilon_is_refused_by_name(huber_epsilon, error):
    with pytest.raises(error, match="huber_epsilon"):
        Network([2, 1], "relu", "identity", "huber", huber_epsilon=huber_epsilon)


def outlier_regression(seed=0):
    """The diabetes data, standardised, 10% of the training targets shifted by 8 standard deviations."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (y - y.mean()) / y.std()
    rng = np.random.default_rng(seed)
    test = rng.permutation(len(y))[: len(y) // 4]
    train = np.setdiff1d(np.arange(len(y)), test)
    y_train = y[train].copy()
    shifted = rng.choice(len(train), len(train) // 10, replace=False)
    y_train[shifted] += 8 * rng.choice([-1.0, 1.0], len(shifted))
    return X[train], y_train, X[test], y[test]


def test_robust_losses_resist_outliers_that_pull_the_squared_error():
    pytest.importorskip("sklearn")
    from fastbp import MLPRegressor

    X, y, X_test, y_test = outlier_regression()
    errors = {}
    for loss in ["squared_error", *ROBUST]:
        model = MLPRegressor(loss=loss, hidden_layer_sizes=(32,), max_iter=150, random_state=0, huber_epsilon=1.0)
        with pytest.warns(Warning):  # not converged in 150 epochs: ConvergenceWarning
            model.fit(X, y)
        errors[loss] = float(np.median(np.abs(model.predict(X_test) - y_test)))
        assert model.loss_ == pytest.approx(model.loss_curve_[-1])
    assert max(errors[loss] for loss in ROBUST) < 0.85 * errors["squared_error"], errors


def test_the_regressor_refuses_unknown_losses_and_scikit_learn_refuses_the_new_ones():
    pytest.importorskip("sklearn")
    from fastbp import MLPRegressor

    X, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20.0)
    with pytest.raises(ValueError, match="loss must be one of 'squared_error', 'poisson', 'absolute_error'"):
        MLPRegressor(loss="hinge").fit(X, y)
    with pytest.raises(ValueError, match="huber_epsilon"):
        MLPRegressor(loss="huber", huber_epsilon=-1.0).fit(X, y)
    fitted = MLPRegressor(loss="log_cosh", max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="scikit-learn's MLPRegressor has no loss 'log_cosh'"):
        fitted.to_sklearn()


def test_the_command_line_trains_with_a_robust_loss_and_refuses_one_for_a_classifier(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    np.savez(tmp_path / "data.npz", X=X, y=X @ [1.0, -2.0, 0.5])
    assert (
        main(["train", str(tmp_path / "data.npz"), "--loss", "huber", "--huber-epsilon", "0.5", "--epochs", "5"]) == 0
    )
    assert "huber" in capsys.readouterr().out
    np.savez(tmp_path / "labels.npz", X=X, y=(X[:, 0] > 0).astype(int))
    assert main(["train", str(tmp_path / "labels.npz"), "--loss", "huber"]) != 0
    assert "--loss is for regression" in capsys.readouterr().err
