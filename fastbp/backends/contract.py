"""The backend contract: the kernel functions every backend module defines, and their parameters.

A backend is a module (:mod:`fastbp.backends.numpy_ref`, :mod:`fastbp.backends.cpu.serial`,
:mod:`fastbp.backends.cuda`) that defines each function of :data:`KERNELS` with
exactly these parameter names, in this order; the registry
(:mod:`fastbp.backends`) hands one to the engine by name, and
``tests/test_backends.py`` checks every backend's source against this table.
The functions work in place on the caller's arrays and trust them: C-contiguous,
of the network's dtype, of matching shapes (:mod:`fastbp.engine.validation`
sees to it).  ``n_threads`` is how many threads a CPU backend may use (``None``: one),
``tiles`` whether a layer may be big enough for its register tiles (``True``, or ``None``:
none is); each also chooses what the CPU backends compile (:mod:`fastbp.backends.cpu.serial`).
The oracle and the CUDA backend take both and ignore them.

The arrays, as docs/notation.md names them (storage: :mod:`fastbp.numerics.layout`):

* ``theta``: every ``W^l_kj`` and ``b^l_k`` in one flat buffer; ``grad``: dC/dtheta, laid out alike;
* ``sizes``: ``n_0 .. n_L`` (int64); ``codes``: the activation of each layer, ``sigma_0 .. sigma_L``;
* ``A``: the activations ``a^0 .. a^L`` of a batch, ``D``: the deltas ``delta^1 .. delta^L``, each
  layer an ``(N, n_l)`` block; ``a``, ``y``, ``s``, ``delta``: one layer's block, the targets and
  the samples' weights;
* ``X``, ``Y``, ``S``: the training set's inputs, targets and sample weights; ``order``: an epoch's
  order of the samples.

The state that training changes: ``optimizer`` (the update rule's code), ``hyper``
(its hyperparameters, :func:`fastbp.numerics.optim.hyperparameters`), ``velocity``,
``second_moment`` and ``counters`` (its state); ``shuffling``, ``order`` and
``rng_state`` (the shuffling, :mod:`fastbp.numerics.shuffling`); ``Y_batch``, ``S_batch`` (a
batch's targets and weights) and ``last_finite`` (the parameters after the last epoch with a
finite cost); ``stopping`` (the stopping rules' state, :mod:`fastbp.numerics.stopping`) and,
for early stopping, ``X_val``, ``Y_val``, ``S_val`` (the validation set), ``P_val`` (its
predictions), ``score_kind`` (which score), ``scores`` (each epoch's) and ``best_theta`` (the
parameters of the best score).
``theta, sizes, codes, cost, l2`` is the network as the kernels take it
(:meth:`fastbp.Network.kernel_arguments`).

The arguments are flat on purpose.  Grouped into tuples (``network``,
``optimizer``, ``shuffling``, ``work``: ten arguments instead of 25), the
training loop compiled about a tenth slower on the estimators' path (a cold
first fit, against flat arguments in one alternating run; benchmarks/README.md
has the figures).
"""

# fmt: off
KERNELS: dict[str, tuple[str, ...]] = {
    # a^0 = x: the batch's samples, in the epoch's order, into layer 0; returns N = sum_n s_n.
    "load_batch": ("X", "Y", "S", "order", "start", "A0", "y", "s"),
    # z^l = W^l a^{l-1} + b^l, a^l = sigma_l(z^l), for l = 1 .. L.
    "forward": ("theta", "sizes", "codes", "A", "n_samples", "n_threads", "tiles"),
    # sum_n s_n C_n.
    "data_cost": ("cost", "a", "y", "s"),
    # delta^L_k = s_n dC_n/da^L_k sigma_L'(z^L_k).
    "output_delta": ("cost", "output_code", "a", "y", "s", "delta"),
    # delta^l_j = sigma_l'(z^l_j) sum_k W^{l+1}_kj delta^{l+1}_k, for l = L-1 .. 1.
    "backprop_deltas": ("theta", "sizes", "codes", "A", "D", "n_samples", "n_threads", "tiles"),
    # dC/dW^l_kj and dC/db^l_k into grad; returns sum_l sum_kj (W^l_kj)^2.
    "accumulate_gradients": ("theta", "sizes", "A", "D", "n_samples", "weight_sum", "l2", "grad", "n_threads", "tiles"),
    # sum_l sum_kj (W^l_kj)^2.
    "squared_weights": ("theta", "sizes"),
    # The batch step: forward, cost, output delta, delta recursion, gradients; returns N C.
    "cost_and_gradient": ("theta", "sizes", "codes", "cost", "l2",
                          "A", "D", "y", "s", "n_samples", "weight_sum", "grad", "n_threads", "tiles"),
    # One step of the optimiser on theta.
    "apply_update": ("theta", "grad", "optimizer", "hyper", "velocity", "second_moment", "counters", "n_threads"),
    # a^L of every row of X into outputs, as many rows at a time as A holds.
    "predict": ("theta", "sizes", "codes", "X", "A", "outputs", "n_threads", "tiles"),
    # Mini-batch gradient descent for up to losses.shape[0] epochs, with scikit-learn's stopping
    # rules; returns the epochs completed (stopping[STATUS] says why it stopped).
    "train_epochs": ("X", "Y", "S", "theta", "sizes", "codes", "cost", "l2", "batch_size", "shuffling",
                     "optimizer", "hyper", "velocity", "second_moment", "counters", "order", "rng_state",
                     "A", "D", "Y_batch", "S_batch", "grad", "last_finite", "losses",
                     "X_val", "Y_val", "S_val", "P_val", "score_kind", "stopping", "best_theta", "scores",
                     "n_threads", "tiles"),
}
# fmt: on
