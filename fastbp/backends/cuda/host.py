"""The host side of the CUDA backend: launches over device arrays, and the entry points.

The entry points have the names and signatures of every backend (see
:mod:`fastbp.backends.contract`) and take host NumPy arrays.
"""

import numpy as np
from numba import cuda

from fastbp.backends.cuda import config
from fastbp.backends.cuda.config import (
    PARTIAL_SUMS,
    REGISTERS,
    THREADS,
    blocks,
    grid_1d,
    grid_2d,
)
from fastbp.backends.cuda.element_kernels import (
    batch_cost_kernel,
    bias_gradient_kernel,
    delta_kernel,
    input_sum_kernel,
    keep_finite_kernel,
    load_batch_kernel,
    output_delta_kernel,
    softmax_kernel,
    squared_weight_partials,
    stop_if_diverged_kernel,
    update_kernel,
    weight_gradient_kernel,
)
from fastbp.backends.cuda.fused import fused_epoch_kernel
from fastbp.backends.cuda.tiled import (
    tiled_delta_kernel,
    tiled_input_sum_kernel,
    tiled_weight_gradient_kernel,
)
from fastbp.numerics.formulas import (
    SOFTMAX,
)
from fastbp.numerics.layout import biases, layer, weights
from fastbp.numerics.optim import (
    ADAM,
    N_HYPER,
    SAMPLES_SEEN,
    UPDATES,
    end_of_epoch_schedule,
)
from fastbp.numerics.shuffling import order_samples
from fastbp.numerics.stopping import (
    CONVERGED,
    COST_DIVERGED,
    NO_SCORE,
    PATIENCE,
    RAN_ALL,
    RATE_CUTS,
    STATUS,
    patience_ran_out,
    record_loss,
    record_score,
    validation_score,
)


def use_tiles(*dimensions: int) -> bool:
    """Whether a product with these output and depth dimensions goes to the tiled kernels."""
    return min(dimensions) >= config.TILED_MIN_WIDTH


def layer_views(d_theta, d_grad, d_A, d_D, sizes, n_samples: int) -> list:
    """Per layer l = 1 .. L: ``(W, b, dW, db, a_prev, a, delta)``, views of the device buffers."""
    return [None] + [
        (
            weights(d_theta, sizes, l),
            biases(d_theta, sizes, l),
            None if d_grad is None else weights(d_grad, sizes, l),
            None if d_grad is None else biases(d_grad, sizes, l),
            layer(d_A, sizes, l - 1, n_samples, 0),
            layer(d_A, sizes, l, n_samples, 0),
            None if d_D is None else layer(d_D, sizes, l, n_samples, 1),
        )
        for l in range(1, len(sizes))
    ]


def launch_forward(views, sizes, codes, n_samples: int) -> None:
    """a^l = sigma_l(W^l a^{l-1} + b^l) for l = 1 .. L."""
    for l in range(1, len(sizes)):
        W, b, _, _, a_prev, a, _ = views[l]
        if use_tiles(n_samples, sizes[l], sizes[l - 1]):
            grid, block = grid_2d(n_samples, sizes[l], REGISTERS)
            tiled_input_sum_kernel[grid, block](codes[l], W, b, a_prev, a)
        else:
            grid, block = grid_2d(n_samples, sizes[l])
            input_sum_kernel[grid, block](codes[l], W, b, a_prev, a)
        if codes[l] == SOFTMAX:
            grid, block = grid_1d(n_samples)
            softmax_kernel[grid, block](a)


def launch_backprop(views, sizes, codes, n_samples: int) -> None:
    """delta^l from delta^{l+1}, for l = L-1 .. 1."""
    for l in range(len(sizes) - 2, 0, -1):
        a, delta = views[l][5], views[l][6]
        W_next, delta_next = views[l + 1][0], views[l + 1][6]
        if use_tiles(n_samples, sizes[l], sizes[l + 1]):
            grid, block = grid_2d(n_samples, sizes[l], REGISTERS)
            tiled_delta_kernel[grid, block](codes[l], W_next, delta_next, a, delta)
        else:
            grid, block = grid_2d(n_samples, sizes[l])
            delta_kernel[grid, block](codes[l], W_next, delta_next, a, delta)


def launch_gradients(views, sizes, n_samples: int, d_weight_sums, batch: int, l2: float) -> None:
    """dC/dW^l and dC/db^l for l = 1 .. L; N is ``d_weight_sums[batch]``."""
    for l in range(1, len(sizes)):
        W, _, dW, db, a_prev, _, delta = views[l]
        if use_tiles(sizes[l], sizes[l - 1], n_samples):
            grid, block = grid_2d(sizes[l], sizes[l - 1], REGISTERS)
            tiled_weight_gradient_kernel[grid, block](W, delta, a_prev, d_weight_sums, batch, l2, dW)
        else:
            grid, block = grid_2d(sizes[l], sizes[l - 1])
            weight_gradient_kernel[grid, block](W, delta, a_prev, d_weight_sums, batch, l2, dW)
        grid, block = grid_1d(sizes[l])
        bias_gradient_kernel[grid, block](delta, d_weight_sums, batch, db)


def partial_sum_count(sizes) -> int:
    """How many partial sums :func:`squared_weight_partials` makes: one per block, at most PARTIAL_SUMS."""
    return min(PARTIAL_SUMS, blocks(sum(int(sizes[l]) * int(sizes[l - 1]) for l in range(1, len(sizes))), THREADS))


def launch_squared_weights(d_theta, d_sizes, d_partials) -> None:
    """d_partials receives partial sums of sum_l sum_kj (W^l_kj)^2."""
    squared_weight_partials[d_partials.shape[0], THREADS](d_theta, d_sizes, d_partials)


def forward(theta, sizes, codes, A, n_samples, n_threads, tiles):
    """The forward pass over the batch held in layer 0 of ``A`` (see the serial backend)."""
    d_theta, d_A = cuda.to_device(theta), cuda.to_device(A)
    launch_forward(layer_views(d_theta, None, d_A, None, sizes, n_samples), sizes, codes, n_samples)
    d_A.copy_to_host(A)


def output_delta(cost, output_code, a, y, s, delta):
    """delta^L_k = s_n dC_n/da^L_k * sigma_L'(z^L_k), for every sample n."""
    d_delta = cuda.to_device(delta)
    grid, block = grid_2d(a.shape[0], a.shape[1])
    output_delta_kernel[grid, block](
        cost, output_code, cuda.to_device(a), cuda.to_device(y), cuda.to_device(s), d_delta
    )
    d_delta.copy_to_host(delta)


def backprop_deltas(theta, sizes, codes, A, D, n_samples, n_threads, tiles):
    """The delta recursion, from layer L - 1 down to layer 1 (``delta^L`` already in ``D``)."""
    d_D = cuda.to_device(D)
    views = layer_views(cuda.to_device(theta), None, cuda.to_device(A), d_D, sizes, n_samples)
    launch_backprop(views, sizes, codes, n_samples)
    d_D.copy_to_host(D)


def accumulate_gradients(theta, sizes, A, D, n_samples, weight_sum, l2, grad, n_threads, tiles):
    """The gradients of the batch cost C into ``grad``; N is ``weight_sum``.  Returns sum_l sum_kj (W^l_kj)^2."""
    d_grad = cuda.to_device(grad)
    views = layer_views(cuda.to_device(theta), d_grad, cuda.to_device(A), cuda.to_device(D), sizes, n_samples)
    launch_gradients(views, sizes, n_samples, cuda.to_device(np.array([weight_sum], dtype=np.float64)), 0, l2)
    d_grad.copy_to_host(grad)
    return squared_weights(theta, sizes)


def apply_update(theta, grad, optimizer, hyper, velocity, second_moment, counters, n_threads):
    """One step of the optimiser (see :mod:`fastbp.numerics.optim`) on all parameters at once."""
    counters[UPDATES] += 1
    d_theta, d_velocity, d_second = cuda.to_device(theta), cuda.to_device(velocity), cuda.to_device(second_moment)
    grid, block = grid_1d(theta.shape[0])
    update_kernel[grid, block](
        d_theta,
        cuda.to_device(grad),
        optimizer,
        cuda.to_device(hyper.reshape(1, -1)),
        0,
        d_velocity,
        d_second,
        counters[UPDATES],
        cuda.to_device(np.array([-1], dtype=np.int64)),
    )
    d_theta.copy_to_host(theta)
    d_velocity.copy_to_host(velocity)
    if optimizer == ADAM:
        d_second.copy_to_host(second_moment)


def cost_and_gradient(theta, sizes, codes, cost, l2, A, D, y, s, n_samples, weight_sum, grad, n_threads, tiles):
    """N C of the batch and dC/dtheta into ``grad``, every step on the device (see the serial backend).

    One copy in (the parameters, the batch and the buffers), the forward pass,
    the cost, the output delta, the delta recursion and the gradients as
    kernel launches, one copy back of ``A``, ``D`` and ``grad``.
    """
    L = len(sizes) - 1
    d_theta, d_A, d_D, d_grad = (cuda.to_device(array) for array in (theta, A, D, grad))
    d_y, d_s = cuda.to_device(y), cuda.to_device(s)
    views = layer_views(d_theta, d_grad, d_A, d_D, sizes, n_samples)
    launch_forward(views, sizes, codes, n_samples)
    d_partials = cuda.to_device(np.zeros(partial_sum_count(sizes), dtype=np.float64))
    if l2 != 0.0:
        launch_squared_weights(d_theta, cuda.to_device(sizes), d_partials)
    # batch_cost_kernel adds sum_n s_n C_n + (lambda / 2) sum (W^l_kj)^2, times n_samples / weight_sums[0]:
    # N C itself with weight_sums[0] = n_samples.
    d_total = cuda.to_device(np.zeros(1, dtype=np.float64))
    a_out = views[L][5]
    n_batch = cuda.to_device(np.array([n_samples], dtype=np.float64))
    batch_cost_kernel[1, THREADS](cost, a_out, d_y, d_s, l2, d_partials, n_batch, 0, d_total, 0)
    grid, block = grid_2d(n_samples, sizes[L])
    output_delta_kernel[grid, block](cost, codes[L], a_out, d_y, d_s, views[L][6])
    launch_backprop(views, sizes, codes, n_samples)
    launch_gradients(views, sizes, n_samples, cuda.to_device(np.array([weight_sum], dtype=np.float64)), 0, l2)
    d_A.copy_to_host(A)
    d_D.copy_to_host(D)
    d_grad.copy_to_host(grad)
    return float(d_total.copy_to_host()[0])


def data_cost(cost, a, y, s):
    """sum_n s_n C_n over the batch."""
    d_total = cuda.to_device(np.zeros(1, dtype=np.float64))
    n_batch = cuda.to_device(np.array([a.shape[0]], dtype=np.float64))
    d_a, d_y, d_s = cuda.to_device(a), cuda.to_device(y), cuda.to_device(s)
    batch_cost_kernel[1, THREADS](cost, d_a, d_y, d_s, 0.0, cuda.to_device(np.zeros(1)), n_batch, 0, d_total, 0)
    return float(d_total.copy_to_host()[0])


def squared_weights(theta, sizes):
    """sum_l sum_kj (W^l_kj)^2."""
    d_partials = cuda.device_array(partial_sum_count(sizes), dtype=np.float64)
    launch_squared_weights(cuda.to_device(theta), cuda.to_device(sizes), d_partials)
    return float(np.sum(d_partials.copy_to_host()))


def batch_weight_sums(S, orders, batch_size: int) -> np.ndarray:
    """N of every batch of every epoch: the sums of the sample weights, in float64."""
    starts = np.arange(0, orders.shape[1], batch_size)
    return np.add.reduceat(S[orders].astype(np.float64), starts, axis=1).ravel()


def load_batch(X, Y, S, order, start, A0, y, s):
    """a^0 = x: the batch's samples, in the shuffled order, into layer 0; the sum of their weights."""
    d_A0, d_y, d_s = cuda.to_device(A0), cuda.to_device(y), cuda.to_device(s)
    grid, block = grid_2d(A0.shape[0], max(A0.shape[1], y.shape[1]))
    load_batch_kernel[grid, block](
        cuda.to_device(X), cuda.to_device(Y), cuda.to_device(S), cuda.to_device(order), start, d_A0, d_y, d_s
    )
    d_A0.copy_to_host(A0)
    d_y.copy_to_host(y)
    d_s.copy_to_host(s)
    return float(batch_weight_sums(S, order[None, start : start + A0.shape[0]], A0.shape[0])[0])


def epoch_plans(rng_state, hyper, counters, order, n_total: int, epochs: int, shuffling: int) -> tuple:
    """On the host, before training: every epoch's order, and the state after each epoch.

    Returns ``(orders, states, hypers, hypers_after)``: ``orders[e]`` is epoch
    e's order of the samples (drawn by :func:`fastbp.numerics.shuffling.order_samples`,
    as the serial backend draws it, from ``order``), ``states[e]`` the
    generator state after it, ``hypers[e]`` the hyperparameters during epoch
    e and ``hypers_after[e]`` after its end-of-epoch schedule.
    """
    orders = np.empty((epochs, n_total), dtype=np.int64)
    states = np.empty((epochs, rng_state.shape[0]), dtype=np.uint64)
    hypers = np.empty((epochs, N_HYPER), dtype=np.float64)
    hypers_after = np.empty((epochs, N_HYPER), dtype=np.float64)
    current = hyper.copy()
    current_order = order.copy()
    for e in range(epochs):
        order_samples(current_order, shuffling, rng_state)
        orders[e] = current_order
        states[e] = rng_state
        hypers[e] = current
        end_of_epoch_schedule(current, counters[SAMPLES_SEEN] + (e + 1) * n_total)
        hypers_after[e] = current
    return orders, states, hypers, hypers_after


def predict(theta, sizes, codes, X, A, outputs, n_threads, tiles):
    """``a^L`` of every row of ``X`` into ``outputs``: the forward pass on the GPU, all rows in one go."""
    n_samples = X.shape[0]
    d_A = cuda.device_array(n_samples * int(np.sum(sizes)), dtype=theta.dtype)
    views = layer_views(cuda.to_device(theta), None, d_A, None, sizes, n_samples)
    views[1][4].copy_to_device(np.ascontiguousarray(X))
    launch_forward(views, sizes, codes, n_samples)
    views[len(sizes) - 1][5].copy_to_host(outputs)


def train_epochs(
    X, Y, S, theta, sizes, codes, cost, l2, batch_size, shuffling, optimizer, hyper, velocity, second_moment,
    counters, order, rng_state, A, D, Y_batch, S_batch, grad, last_finite, losses,
    X_val, Y_val, S_val, P_val, score_kind, stopping, best_theta, scores, n_threads, tiles,
):  # fmt: skip
    """Mini-batch gradient descent with scikit-learn's stopping rules, on the GPU.

    The contract of the serial backend's ``train_epochs``.  Without rules
    (``stopping[PATIENCE] < 0`` and no ``score_kind``) all epochs run as one
    queue of launches (:func:`queued_epochs`); with them, one epoch at a
    time, and the rules of :mod:`fastbp.numerics.stopping` run on the host
    between two epochs (the validation forward pass on the GPU).
    """
    stopping[STATUS] = RAN_ALL
    stopping[RATE_CUTS] = 0
    work = (order, rng_state, A, D, Y_batch, S_batch, grad, last_finite)
    step = (X, Y, S, theta, sizes, codes, cost, l2, batch_size, shuffling, optimizer, hyper, velocity, second_moment)
    if stopping[PATIENCE] < 0 and score_kind is NO_SCORE:
        completed = queued_epochs(*step, counters, *work, losses)
        for e in range(completed):
            record_loss(stopping, losses[e])
        if completed < losses.shape[0]:
            stopping[STATUS] = COST_DIVERGED
        return completed
    for epoch in range(losses.shape[0]):
        if queued_epochs(*step, counters, *work, losses[epoch : epoch + 1]) == 0:
            stopping[STATUS] = COST_DIVERGED
            return epoch
        if score_kind is NO_SCORE:
            record_loss(stopping, losses[epoch])
        else:
            predict(theta, sizes, codes, X_val, A, P_val, n_threads, tiles)
            scores[epoch] = validation_score(score_kind, P_val, Y_val, S_val)
            if record_score(stopping, scores[epoch]):
                best_theta[:] = theta
        if patience_ran_out(stopping, hyper):
            stopping[STATUS] = CONVERGED
            return epoch + 1
    return losses.shape[0]


def queued_epochs(
    X, Y, S, theta, sizes, codes, cost, l2, batch_size, shuffling, optimizer, hyper, velocity, second_moment,
    counters, order, rng_state, A, D, Y_batch, S_batch, grad, last_finite, losses,
):  # fmt: skip
    """Mini-batch gradient descent for ``losses.shape[0]`` epochs on the GPU, as one queue of launches.

    The host draws every epoch's order first (the same generators, so the
    same orders as the CPU backends) and copies the data, the orders, the
    batches' weight sums, the parameters and the optimiser's state to the
    device once.  The epochs then run as
    kernel launches queued on one stream with no synchronisation: the fused
    epoch kernel for small networks, else a dozen kernels per mini-batch.
    The epoch's cost is summed on the device; at the end of each epoch a
    kernel keeps the weights (cost finite) or restores the last finite ones
    and sets a stop flag that turns every later update into nothing.  One
    copy back brings the parameters (and ``last_finite``), the optimiser's
    state, the costs and the flag.  ``A``, ``D``, ``Y_batch``, ``S_batch``
    and ``grad`` are the caller's work buffers and are not written back.
    Returns the number of epochs whose cost was finite.
    """
    n_total = X.shape[0]
    epochs = losses.shape[0]
    L = len(sizes) - 1
    n_batches = -(-n_total // batch_size)
    orders, states, hypers, hypers_after = epoch_plans(rng_state, hyper, counters, order, n_total, epochs, shuffling)
    d_X, d_Y, d_S = cuda.to_device(X), cuda.to_device(Y), cuda.to_device(S)
    d_order = cuda.to_device(orders.ravel())
    d_weight_sums = cuda.to_device(batch_weight_sums(S, orders, batch_size))
    d_hypers = cuda.to_device(hypers)
    d_theta, d_velocity, d_second = cuda.to_device(theta), cuda.to_device(velocity), cuda.to_device(second_moment)
    d_last = cuda.to_device(last_finite)
    d_sizes = cuda.to_device(sizes)
    d_A, d_D, d_Y_batch, d_S_batch, d_grad = (
        cuda.device_array_like(buffer) for buffer in (A, D, Y_batch, S_batch, grad)
    )
    d_losses = cuda.to_device(np.zeros(epochs, dtype=np.float64))
    d_status = cuda.to_device(np.array([-1], dtype=np.int64))
    if batch_size * theta.shape[0] <= config.FUSED_MAX_WORK:
        d_codes = cuda.to_device(codes)
        for e in range(epochs):
            fused_epoch_kernel[1, THREADS](
                d_X,
                d_Y,
                d_S,
                d_order,
                d_weight_sums,
                d_theta,
                d_sizes,
                d_codes,
                cost,
                l2,
                batch_size,
                optimizer,
                d_hypers,
                d_velocity,
                d_second,
                counters[UPDATES] + e * n_batches,
                e,
                d_A,
                d_D,
                d_Y_batch,
                d_S_batch,
                d_grad,
                d_last,
                d_losses,
                d_status,
            )
    else:
        d_partials = cuda.to_device(np.zeros(partial_sum_count(sizes), dtype=np.float64))
        last_size = n_total - (n_batches - 1) * batch_size
        views = {N: layer_views(d_theta, d_grad, d_A, d_D, sizes, N) for N in {batch_size, last_size}}
        targets = {N: (d_Y_batch[: N * sizes[L]].reshape((N, sizes[L])), d_S_batch[:N]) for N in views}
        grid_p, block_p = grid_1d(theta.shape[0])
        for e in range(epochs):
            for batch in range(n_batches):
                N = min(batch_size, n_total - batch * batch_size)
                layers, (y, s) = views[N], targets[N]
                grid, block = grid_2d(N, max(sizes[0], sizes[L]))
                load_batch_kernel[grid, block](
                    d_X, d_Y, d_S, d_order, e * n_total + batch * batch_size, layers[1][4], y, s
                )
                launch_forward(layers, sizes, codes, N)
                if l2 != 0.0:
                    launch_squared_weights(d_theta, d_sizes, d_partials)
                a_out = layers[L][5]
                batch_cost_kernel[1, THREADS](
                    cost, a_out, y, s, l2, d_partials, d_weight_sums, e * n_batches + batch, d_losses, e
                )
                grid, block = grid_2d(N, sizes[L])
                output_delta_kernel[grid, block](cost, codes[L], a_out, y, s, layers[L][6])
                launch_backprop(layers, sizes, codes, N)
                launch_gradients(layers, sizes, N, d_weight_sums, e * n_batches + batch, l2)
                update_kernel[grid_p, block_p](
                    d_theta,
                    d_grad,
                    optimizer,
                    d_hypers,
                    e,
                    d_velocity,
                    d_second,
                    counters[UPDATES] + e * n_batches + batch + 1,
                    d_status,
                )
            keep_finite_kernel[grid_p, block_p](d_theta, d_last, d_losses, e, d_status)
            stop_if_diverged_kernel[1, 1](d_losses, e, d_status)
    # The one copy back.
    status = int(d_status.copy_to_host()[0])
    losses[:] = d_losses.copy_to_host() / n_total
    d_theta.copy_to_host(theta)
    d_last.copy_to_host(last_finite)
    d_velocity.copy_to_host(velocity)
    d_second.copy_to_host(second_moment)
    completed = epochs if status < 0 else status
    last = min(completed, epochs - 1)
    order[:] = orders[last]
    rng_state[:] = states[last]
    hyper[:] = hypers_after[last]
    counters[UPDATES] += (last + 1) * n_batches
    counters[SAMPLES_SEEN] += (last + 1) * n_total
    return completed
