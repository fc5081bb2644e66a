"""Ctrl-C during fit: the weights of the last completed epoch, and a state that matches them.

A real SIGINT is sent to this process at a chosen epoch (from a callback, or
from a wrapper around the compiled epoch loop, which is where a signal lands
when compiled code is running: Python sees it when the call returns).  The
interrupted model must equal a clean run of as many epochs as it recorded.
"""

import os
import signal
import threading

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastbp import MLPClassifier, MLPRegressor, Network
from fastbp.backends import numpy_ref
from fastbp.backends.cpu import serial
from fastbp.engine import training

BACKENDS = ["serial", "parallel", "numpy", "reference"]
RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 5))
Y = np.eye(3)[RNG.integers(0, 3, 40)]
labels = Y.argmax(axis=1)


def press_ctrl_c(times: int = 1) -> None:
    for _ in range(times):
        os.kill(os.getpid(), signal.SIGINT)


def interrupt_call(monkeypatch, module, name: str, n: int) -> None:
    """Make the ``n``-th call of ``module.name`` run, then raise KeyboardInterrupt (a Ctrl-C not held back)."""
    real = getattr(module, name)
    calls = []

    def interrupted(*args):
        result = real(*args)
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(module, name, interrupted)


def network() -> Network:
    return Network([5, 7, 3], "tanh", "softmax", "categorical_cross_entropy", seed=1)


def clean_run(epochs: int, backend: str) -> Network:
    return network().fit(X, Y, epochs=epochs, batch_size=8, backend=backend)


def assert_same_network(interrupted: Network, clean: Network) -> None:
    assert interrupted.theta.tobytes() == clean.theta.tobytes()
    assert interrupted.loss_curve == clean.loss_curve
    assert interrupted.rng_state.tobytes() == clean.rng_state.tobytes()


@pytest.fixture(autouse=True)
def default_handler_is_restored():
    """Each test starts with Python's own SIGINT handler and must leave it in place.

    An interactive Python has that handler; a process that a non-interactive
    shell starts in the background inherits SIGINT ignored, and Python then
    installs none.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_at_an_epoch_end_keeps_that_epoch_and_reraises(backend):
    def ctrl_c_at_epoch_3(net, epoch, loss):
        if epoch == 3:
            press_ctrl_c()

    interrupted = network()
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(X, Y, epochs=10, batch_size=8, backend=backend, callback=ctrl_c_at_epoch_3)
    assert_same_network(interrupted, clean_run(3, backend))
    # and training goes on from there exactly as if never interrupted
    interrupted.fit(X, Y, epochs=7, batch_size=8, backend=backend)
    assert_same_network(interrupted, clean_run(10, backend))


@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_ctrl_c_during_a_chunk_of_compiled_epochs_keeps_every_epoch_of_it(backend, monkeypatch):
    real = serial.train_epochs
    calls = []

    def signal_lands_during_compiled_code(*args):
        completed = real(*args)
        calls.append(completed)
        if sum(calls) >= 6:
            press_ctrl_c()
        return completed

    monkeypatch.setattr(serial, "train_epochs", signal_lands_during_compiled_code)
    interrupted = network()
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(X, Y, epochs=10_000, batch_size=8, backend=backend)
    assert calls[-1] > 1, "the interrupted call ran several epochs (a chunk)"
    assert len(interrupted.loss_curve) == sum(calls)
    monkeypatch.undo()
    assert_same_network(interrupted, clean_run(sum(calls), backend))


@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_second_ctrl_c_cuts_the_chunk_short_and_puts_back_its_start(backend, monkeypatch):
    monkeypatch.setattr(training, "FIRST_CHUNK_MULTIPLY_ADDS", 1)  # chunks of 1, 4, 16 ... epochs
    real = serial.train_epochs
    calls = []

    def two_presses_while_computing(*args):
        completed = real(*args)  # theta and the generator have moved on...
        calls.append(completed)
        if len(calls) == 3:
            press_ctrl_c(times=2)  # ...when the second press raises at once
        return completed

    monkeypatch.setattr(serial, "train_epochs", two_presses_while_computing)
    interrupted = network()
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(X, Y, epochs=10_000, batch_size=8, backend=backend)
    assert len(interrupted.loss_curve) == sum(calls[:2])
    monkeypatch.undo()
    assert_same_network(interrupted, clean_run(sum(calls[:2]), "serial"))


def test_interrupt_in_the_middle_of_an_epoch_puts_back_the_last_completed_one(monkeypatch):
    def one_epoch_at_a_time(net, epoch, loss):
        return False

    interrupt_call(monkeypatch, numpy_ref, "apply_update", 13)  # epoch 3 of 5 batches, half done
    interrupted = network()
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(X, Y, epochs=10, batch_size=8, backend="numpy", callback=one_epoch_at_a_time)
    monkeypatch.undo()
    assert_same_network(interrupted, clean_run(2, "numpy"))


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("kind", [MLPClassifier, MLPRegressor])
def test_estimator_interrupted_at_an_epoch_keeps_it_with_a_consistent_state(kind, solver):
    target = labels if kind is MLPClassifier else Y[:, 0]

    def model(**options):
        return kind(
            hidden_layer_sizes=(6,), solver=solver, batch_size=8, random_state=0, tol=0, backend="serial", **options
        )

    def ctrl_c_at_epoch_4(estimator, epoch, loss):
        if epoch == 4:
            press_ctrl_c()

    interrupted = model(max_iter=50, callback=ctrl_c_at_epoch_4)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        interrupted.fit(X, target)
    with pytest.warns(ConvergenceWarning):
        clean = model(max_iter=4).fit(X, target)
    assert (interrupted.n_iter_, interrupted.t_, len(interrupted.loss_curve_)) == (4, 4 * len(X), 4)
    assert interrupted.loss_curve_ == clean.loss_curve_
    for mine, theirs in zip(interrupted.coefs_ + interrupted.intercepts_, clean.coefs_ + clean.intercepts_):
        assert mine.tobytes() == theirs.tobytes()
    assert interrupted._trainer.counters.tolist() == clean._trainer.counters.tolist()


def test_estimator_epoch_cut_short_is_undone(monkeypatch):
    # The first call of the compiled loop runs one epoch; the second (a chunk of more) is computed, not recorded.
    monkeypatch.setattr(training, "FIRST_CHUNK_MULTIPLY_ADDS", 1)
    interrupt_call(monkeypatch, serial, "train_epochs", 2)
    options = dict(hidden_layer_sizes=(6,), solver="adam", batch_size=8, random_state=0, tol=0, backend="serial")
    interrupted = MLPClassifier(max_iter=50, **options)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        interrupted.fit(X, labels)
    monkeypatch.undo()
    with pytest.warns(ConvergenceWarning):
        clean = MLPClassifier(max_iter=1, **options).fit(X, labels)
    assert (interrupted.n_iter_, interrupted.t_, interrupted.loss_curve_) == (1, clean.t_, clean.loss_curve_)
    assert interrupted._network.theta.tobytes() == clean._network.theta.tobytes()
    assert interrupted._trainer.counters.tolist() == clean._trainer.counters.tolist()
    assert interrupted._trainer.velocity.tobytes() == clean._trainer.velocity.tobytes()


def test_lbfgs_interrupted_keeps_the_last_iterate(monkeypatch):
    options = dict(hidden_layer_sizes=(6,), solver="lbfgs", random_state=0, backend="serial")

    def ctrl_c_at_iteration_5(estimator, iteration, loss):
        if iteration == 5:
            press_ctrl_c()

    interrupted = MLPClassifier(max_iter=100, callback=ctrl_c_at_iteration_5, **options)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        interrupted.fit(X, labels)
    with pytest.warns(ConvergenceWarning):
        clean = MLPClassifier(max_iter=5, **options).fit(X, labels)
    assert (interrupted.n_iter_, interrupted.loss_) == (5, clean.loss_)
    assert interrupted._network.theta.tobytes() == clean._network.theta.tobytes()

    # A KeyboardInterrupt inside an evaluation (in a line search) goes back to the last iterate.
    interrupt_call(monkeypatch, serial, "cost_and_gradient", 12)
    cut = MLPClassifier(max_iter=100, **options)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        cut.fit(X, labels)
    monkeypatch.undo()
    assert 0 < cut.n_iter_ < 12
    with pytest.warns(ConvergenceWarning):
        clean = MLPClassifier(max_iter=cut.n_iter_, **options).fit(X, labels)
    assert cut.loss_ == clean.loss_
    assert cut._network.theta.tobytes() == clean._network.theta.tobytes()


def test_a_handler_of_the_application_stays_in_place_through_a_fit():
    def application_handler(signum, frame):
        pass

    seen = []
    signal.signal(signal.SIGINT, application_handler)
    try:
        network().fit(X, Y, epochs=2, callback=lambda net, epoch, loss: seen.append(signal.getsignal(signal.SIGINT)))
        assert seen == [application_handler, application_handler]
        assert signal.getsignal(signal.SIGINT) is application_handler
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_fits_in_other_threads_leave_the_handler_alone():
    seen = []

    def fit():
        seen.append(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        network().fit(
            X,
            Y,
            epochs=2,
            callback=lambda net, epoch, loss: seen.append(
                signal.getsignal(signal.SIGINT) is signal.default_int_handler
            ),
        )

    worker = threading.Thread(target=fit)
    worker.start()
    worker.join()
    assert seen == [True, True, True]
