"""The training loop of the reference backends, in Python around their compiled or NumPy steps.

The NumPy oracle (:mod:`fastbp.backends.numpy_ref`) and the reference loops
(:mod:`fastbp.backends.reference`) run the epochs here, one batch step at a
time; the serial and parallel backends run the same algorithm as one
compiled ``train_epochs`` (:mod:`fastbp.backends.cpu.serial`), which the
tests check against this one.
The arguments are those of :data:`fastbp.backends.contract.KERNELS` ``["train_epochs"]``.
"""

from types import ModuleType

import numpy as np

from fastbp.numerics.optim import INVSCALING, LEARNING_RATE, LEARNING_RATE_INIT, POWER_T, SAMPLES_SEEN, SCHEDULE
from fastbp.numerics.shuffling import order_samples
from fastbp.numerics.sparse import input_block, row_count
from fastbp.numerics.stopping import (
    CONVERGED,
    COST_DIVERGED,
    NO_SCORE,
    RAN_ALL,
    RATE_CUTS,
    STATUS,
    patience_ran_out,
    record_loss,
    record_score,
)


def train_epochs(
    steps: ModuleType, X, Y, S, theta, sizes, codes, cost, l2, batch_size, shuffling, optimizer, hyper, velocity,
    second_moment, counters, order, rng_state, A, D, Y_batch, S_batch, grad, last_finite, losses,
    X_val, Y_val, S_val, P_val, score_kind, stopping, best_theta, scores, n_threads, tiles,
):  # fmt: skip
    """Mini-batch gradient descent with scikit-learn's stopping rules, by the batch steps of one backend.

    ``steps`` is the backend's module: its ``load_batch``, ``cost_and_gradient``,
    ``apply_update``, ``predict`` and ``score`` (``(score_kind, P, Y, S)``) run
    each batch and epoch, looked up at each call.

    The same contract as the compiled backends' ``train_epochs``: each epoch
    orders the samples, then runs a forward and backward pass and an update
    per batch; ``losses[e]`` receives the epoch's cost, ``scores[e]`` the
    validation score; returns the epochs completed, ``stopping[STATUS]``
    says why it stopped.
    """
    n_total = row_count(X)
    L = len(sizes) - 1
    stopping[STATUS] = RAN_ALL
    stopping[RATE_CUTS] = 0
    for epoch in range(losses.shape[0]):
        order_samples(order, shuffling, rng_state)
        epoch_cost = 0.0
        for start in range(0, n_total, batch_size):
            n_samples = min(batch_size, n_total - start)
            y = Y_batch[: n_samples * sizes[L]].reshape((n_samples, sizes[L]))
            s = S_batch[:n_samples]
            weight_sum = steps.load_batch(X, Y, S, order, start, input_block(A, sizes, n_samples), y, s)
            batch_cost = steps.cost_and_gradient(
                theta, sizes, codes, cost, l2, A, D, y, s, n_samples, weight_sum, grad, n_threads, tiles
            )
            epoch_cost += batch_cost * n_samples / weight_sum
            steps.apply_update(theta, grad, optimizer, hyper, velocity, second_moment, counters, n_threads)
        counters[SAMPLES_SEEN] += n_total
        if hyper[SCHEDULE] == INVSCALING:
            hyper[LEARNING_RATE] = hyper[LEARNING_RATE_INIT] / (counters[SAMPLES_SEEN] + 1.0) ** hyper[POWER_T]
        losses[epoch] = epoch_cost / n_total
        if not np.isfinite(losses[epoch]):
            stopping[STATUS] = COST_DIVERGED
            theta[:] = last_finite
            return epoch
        last_finite[:] = theta
        if score_kind is NO_SCORE:
            record_loss(stopping, losses[epoch])
        else:
            steps.predict(theta, sizes, codes, X_val, A, P_val, n_threads, tiles)
            scores[epoch] = steps.score(score_kind, P_val, Y_val, S_val)
            if record_score(stopping, scores[epoch]):
                best_theta[:] = theta
        if patience_ran_out(stopping, hyper):
            stopping[STATUS] = CONVERGED
            return epoch + 1
    return losses.shape[0]
