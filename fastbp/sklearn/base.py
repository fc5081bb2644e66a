"""What fastbp's ``MLPClassifier`` and ``MLPRegressor`` share: parameters, fitting, the network behind them.

Drop-in: the same constructor parameters, defaults and meanings, the same
fitted attributes and methods, and, for a given ``random_state``, the same
initial weights, the same shuffling and the same split for early stopping,
so that a fit follows scikit-learn's trajectory step for step (the tests
check it to 1e-10 relative in float64).  Parameters of fastbp's own:
``backend`` (which compiled kernels run the epochs), ``n_jobs``, ``dtype`` and ``callback``;
``activation`` may also list one name per hidden layer.

Storage.  scikit-learn's ``coefs_[i]`` has shape ``(n_in, n_out)``: it is
the transpose of docs/notation.md's ``W[l]`` (shape ``(n_l, n_{l-1})``) with
``l = i + 1``, and ``intercepts_[i]`` is ``b[l]``::

    coefs_[l - 1] = W[l].T        intercepts_[l - 1] = b[l]        l = 1 .. L

After a fit both are views into the network's flat parameter buffer, so
changing them in place changes the model; assigning new lists works as well
(they are copied into the buffer before the next prediction or fit).

Loss convention.  ``loss_`` and ``loss_curve_`` report docs/notation.md's cost C,
the function whose gradient both libraries descend.  They equal
scikit-learn's except for the squared error with several outputs:
scikit-learn reports the data term averaged over the ``n_outputs`` outputs
as well (``0.5 mean_k mean_n (a - y)^2``) while its gradient is that of the
sum over outputs (``delta^L = a - y``), so its reported loss is not the
function it minimises.  fastbp reports the function it minimises, so that
``loss_`` is one thing for every solver; in particular L-BFGS needs the
loss and the gradient of one function (its line search compares them).
The price: with several outputs and the squared error, the training-loss
stopping rule (``tol``, ``n_iter_no_change``) sees a data term
``n_outputs`` times larger than scikit-learn's and may stop at another epoch.

Sparse X (scipy's matrices and arrays, any format) is accepted as
scikit-learn accepts it, and read as CSR rows, never densified: layer 1 runs
index loops over the nonzeros (:mod:`fastbp.backends.cpu.csr`).

Differences, all deliberate: a NaN or infinite epoch cost (or weights) stops training with a
:class:`~fastbp.DivergenceWarning` naming the epoch (lbfgs: the iteration)
and keeps the weights of the epoch before (where scikit-learn raises after
the fact); ``callback`` is new; ``score`` refuses labels that are not in
``classes_`` (and ``partial_fit`` names them); arrays of strings are refused
where numbers are needed; error messages name the argument at fault
(:mod:`fastbp.sklearn.validation`).

Ctrl-C during ``fit`` or ``partial_fit`` stops training at the end of the
epoch (lbfgs: iteration) in progress, as scikit-learn does with a warning
"Training interrupted by user."; the estimator keeps the weights of that
epoch, and ``n_iter_``, ``t_``, ``loss_curve_`` and the optimiser's state
match them (see :mod:`fastbp.engine.interrupts`).
"""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import shuffle as shuffled
from sklearn.utils.validation import check_is_fitted

from fastbp.engine.initialization import glorot_uniform
from fastbp.engine.interrupts import TrainingInterrupted, held_interrupts
from fastbp.engine.lbfgs import minimize_cost
from fastbp.engine.network import Network
from fastbp.engine.training import DivergenceWarning, StoppingRules, Trainer
from fastbp.engine.validation import (
    all_finite,
    check_backend_reads,
    check_dtype,
    check_sizes,
    is_sparse,
    kernel_array,
)
from fastbp.numerics import layout, optim, stopping
from fastbp.numerics.stopping import stopping_state
from fastbp.sklearn.interchange import (
    FASTBP_ONLY_PARAMETERS,
    FittedModel,
    fitted_attributes,
    load_optimizer_state,
    sklearn_model,
    theta_from_layers,
)
from fastbp.sklearn.progress import Progress
from fastbp.sklearn.randomness import FitRandomState
from fastbp.sklearn.validation import (
    check_hidden_layer_sizes,
    check_parameters,
    check_sample_weight,
    kernel_inputs,
    known_valid,
    parameters_as_checked,
    prediction_input,
    remember_valid,
)

STOCHASTIC_SOLVERS = ("sgd", "adam")
# scikit-learn's name of the output activation -> fastbp's (activation, cost) pair.
OUTPUT_PAIRS = {
    "identity": ("identity", "mse"),
    "logistic": ("sigmoid", "binary_cross_entropy"),
    "softmax": ("softmax", "categorical_cross_entropy"),
    "exp": ("exp", "poisson"),
}
# batch_size='auto' means min(AUTO_BATCH, n_samples).
AUTO_BATCH = 200


def set_parameters(estimator, values: dict) -> None:
    """``__init__``'s arguments as attributes of the same names, unchanged (scikit-learn's convention)."""
    for name, value in values.items():
        if name != "self":
            setattr(estimator, name, value)


class BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, fitting, the network."""

    # Fitted state, set by the first fit (scikit-learn's convention: none of it before).
    _network: Network
    _trainer: Trainer | None
    _best_theta: np.ndarray
    loss_curve_: list[float]
    # A list or a float with early stopping and None without it, or the other way round, as in
    # scikit-learn: each code path below knows which (typed Any, not narrowed at every use).
    validation_scores_: Any
    best_validation_score_: Any
    best_loss_: Any

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _check_params(self) -> None:
        """Every constructor parameter, checked once per fit (scikit-learn's rules)."""
        check_parameters(self)

    # ---- the network behind coefs_ and intercepts_ ------------------------------

    def _input_dtype(self):
        """What ``validate_data`` converts X to: float32 kept (dtype None), else float64; or ``dtype``."""
        return (np.float64, np.float32) if self.dtype is None else check_dtype(self.dtype)

    def _build_network(self, sizes: list[int], dtype, theta: np.ndarray) -> Network:
        """A network of this estimator's hidden and output activations, with the parameters ``theta``."""
        output_activation = OUTPUT_PAIRS[self.out_activation_][0]
        return Network(
            sizes, self.activation, output_activation, l2=float(self.alpha), dtype=dtype, seed=0, theta=theta,
            **self._cost_options(),
        )  # fmt: skip

    def _cost_options(self) -> dict:
        """The network's ``cost`` for this estimator's loss: the one scikit-learn pairs with the output activation."""
        return {"cost": OUTPUT_PAIRS[self.out_activation_][1]}

    def _expose_parameters(self) -> None:
        """Point ``coefs_[l - 1]`` at ``W[l].T`` and ``intercepts_[l - 1]`` at ``b[l]`` (views)."""
        network = self._network
        self.coefs_ = [W.T for W in network.W[1:]]
        self.intercepts_ = list(network.b[1:])
        # the views themselves, so that _synced_network sees at once whether they were replaced
        self._exposed = (*self.coefs_, *self.intercepts_)

    @property
    def network_(self) -> Network:
        """The fitted :class:`~fastbp.Network` itself (not a copy): ``W[l]`` is ``coefs_[l - 1].T``.

        Its parameters are those of ``coefs_`` and ``intercepts_``; training the
        estimator further changes them.  ``network_.copy()`` keeps a snapshot.
        """
        check_is_fitted(self)
        return self._synced_network()

    def _views_exposed(self) -> bool:
        """Whether ``coefs_`` and ``intercepts_`` still hold the views of the last :meth:`_expose_parameters`."""
        exposed = self.__dict__.get("_exposed")
        current = (*self.coefs_, *self.intercepts_)
        return exposed is not None and len(exposed) == len(current) and all(a is b for a, b in zip(exposed, current))

    def _synced_network(self) -> Network:
        """The network, with ``coefs_`` and ``intercepts_`` copied into it if they were replaced."""
        network = self._network
        if self._views_exposed():
            return network  # still the views of _expose_parameters: nothing to copy
        for l in range(1, network.L + 1):
            W, b = layout.weights(network.theta, network.sizes, l), layout.biases(network.theta, network.sizes, l)
            if not (np.shares_memory(self.coefs_[l - 1], W) and np.shares_memory(self.intercepts_[l - 1], b)):
                W[:] = self.coefs_[l - 1].T
                b[:] = self.intercepts_[l - 1]
        return network

    def __getstate__(self) -> dict:
        """The state to pickle: ``coefs_`` and ``intercepts_`` are views, restored by :meth:`__setstate__`."""
        if hasattr(self, "_network"):
            self._synced_network()
        skipped = ("coefs_", "intercepts_", "_exposed")
        return {name: value for name, value in super().__getstate__().items() if name not in skipped}

    def __setstate__(self, state: dict) -> None:
        """Restore a pickled estimator with writeable buffers (a memory map may hand them back read-only)."""
        super().__setstate__(state)
        if hasattr(self, "_network"):
            holders: list[tuple[object, tuple[str, ...]]] = [(self._network, ("theta", "sizes", "codes", "rng_state"))]
            if self._trainer is not None:
                holders.append((self._trainer, ("hyper", "velocity", "second_moment", "counters")))
            for holder, names in holders:
                for name in names:
                    setattr(holder, name, np.array(getattr(holder, name)))
            self._expose_parameters()

    def _initialize(self, Y: np.ndarray, sizes: list[int], dtype, random_state) -> None:
        """Fitted state for a first fit: scikit-learn's Glorot-uniform draws, in its order.

        For each layer, ``coefs_[i]`` (``(n_in, n_out)``) and then
        ``intercepts_[i]`` are drawn from ``random_state``
        (:func:`~fastbp.engine.initialization.glorot_uniform`, ``f = 2`` for
        logistic hidden units), so that one ``random_state`` gives scikit-learn's
        initial weights.  With one ``activation`` per hidden layer, each hidden
        layer takes the factor of its own, and the output layer that of the last
        hidden layer: a list of one name repeated draws that name's weights.
        """
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(sizes)
        self.out_activation_ = self._output_activation()
        # scikit-learn draws coefs_[l - 1], shape (n_{l-1}, n_l), then intercepts_[l - 1]: W[l] is the transpose.
        # The sizes are checked first: parameters too many for the memory are refused before they are drawn.
        activation = self.activation
        theta = glorot_uniform(
            check_sizes(sizes, dtype),
            activation == "logistic" if isinstance(activation, str) else [name == "logistic" for name in activation],
            lambda bound, shape: random_state.uniform(-bound, bound, shape[::-1]).T,
        )
        self._network = self._build_network(sizes, dtype, theta)
        self._expose_parameters()
        self._best_theta = self._network.theta.copy()
        self._trainer = None
        if self.solver in STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    # ---- fitting ----------------------------------------------------------------

    def _fit(self, X, y, sample_weight, incremental: bool):
        checked = parameters_as_checked(self)
        if checked is None or checked != self.__dict__.get("_checked_parameters"):
            if not known_valid(type(self), checked):
                self._check_params()
                remember_valid(type(self), checked)
            self._checked_parameters = checked
        hidden = check_hidden_layer_sizes(self.hidden_layer_sizes)
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        with kept_on_error(self):  # a refit refused for its input keeps the fitted model
            X, Y = self._validate_input(X, y, incremental, reset=first_pass)
            dtype = X.dtype if first_pass else self._network.dtype
            check_backend_reads(self.backend, X)
            # Sparse X stays scipy's CSR until it is split (early stopping), then becomes CSR rows.
            X = X.tocsr() if is_sparse(X) else kernel_array(X, dtype)
            Y = kernel_array(Y.reshape(X.shape[0], -1), dtype)
            S = self._sample_weights(sample_weight, Y, dtype)
        random_state = FitRandomState(self.random_state)
        if first_pass:
            self._initialize(Y, [X.shape[1], *hidden, Y.shape[1]], dtype, random_state.generator)
        network = self._synced_network()
        if not self._views_exposed():
            self._expose_parameters()
        network.l2 = float(self.alpha)
        if self.solver in STOCHASTIC_SOLVERS:
            self._fit_stochastic(network, X, Y, S, random_state, incremental)
        else:
            self._fit_lbfgs(network, X, Y, S)
        if not all_finite(network.theta):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain large values "
                "and need to be preprocessed."
            )
        # The first predict, of one row or of as many as the training set, then finds its kernel
        # compiled (or loaded from Numba's cache) for these arrays.
        first_row = kernel_inputs(X[:1], dtype)
        for rows in (1, X.shape[0]):
            network.prepare_outputs(first_row, rows, self.backend, self.n_jobs)
        return self

    def _sample_weights(self, sample_weight, Y: np.ndarray, dtype) -> np.ndarray:
        """s_n of each sample (the targets ``Y`` matter to the classifier's ``class_weight``)."""
        return check_sample_weight(sample_weight, Y.shape[0], dtype)

    def _new_trainer(self, network) -> Trainer:
        """A fresh optimiser (scikit-learn makes one per fit, and keeps it across partial_fit calls)."""
        sgd = self.solver == "sgd"
        hyper = optim.hyperparameters(
            float(self.learning_rate_init),
            momentum=float(self.momentum) if sgd else 0.0,
            nesterov=bool(self.nesterovs_momentum),
            beta_1=float(self.beta_1),
            beta_2=float(self.beta_2),
            epsilon=float(self.epsilon),
            power_t=float(self.power_t),
            schedule=optim.INVSCALING if sgd and self.learning_rate == "invscaling" else optim.CONSTANT,
        )
        return Trainer(network, hyper, self.solver, self.backend, n_jobs=self.n_jobs)

    def _split(self, X, Y, S, random_state: FitRandomState) -> tuple:
        """``(X, Y, S)`` to train on and ``(X, Y, S)`` to validate on (None without early stopping).

        Like scikit-learn: ``validation_fraction`` of the samples, stratified
        for single-output classification, drawn from ``random_state``.
        """
        if not self.early_stopping:
            return (X, Y, S), None
        stratify = Y if is_classifier_with_one_output(self) else None
        X_train, X_val, Y_train, Y_val, S_train, S_val = train_test_split(
            X, Y, S, random_state=random_state.generator, test_size=self.validation_fraction, stratify=stratify
        )
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
            )
        return (X_train, Y_train, S_train), (X_val, Y_val, S_val)

    def _batch_size(self, n_samples: int) -> int:
        if isinstance(self.batch_size, str):
            return min(AUTO_BATCH, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped", stacklevel=2
            )
        return min(max(int(self.batch_size), 1), n_samples)

    def _fit_stochastic(self, network, X, Y, S, random_state: FitRandomState, incremental: bool) -> None:
        """sgd or adam: the epochs and scikit-learn's stopping rules, in the compiled training loop.

        Each epoch's order of the samples is scikit-learn's: the kernels
        permute an index array with ``random_state``'s own generator, drawing
        what scikit-learn's ``shuffle`` would draw, and read the rows through
        it (no copy of the data); ``random_state`` is left where scikit-learn
        leaves it.  Python is re-entered after every epoch only for
        ``verbose`` or a ``callback``; else a few times a second.
        """
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        trainer = self._trainer
        if not incremental or trainer is None:
            previous, trainer = trainer, self._new_trainer(network)
            if previous is not None:
                trainer.take_buffers(previous)
            self._trainer = trainer
        trainer.counters[optim.SAMPLES_SEEN] = self.t_
        (X_train, Y_train, S_train), validation = self._split(X, Y, S, random_state)
        X_train = kernel_inputs(X_train, network.dtype)
        if validation is not None:
            validation = (kernel_inputs(validation[0], network.dtype), *validation[1:])
        rules = self._stopping_rules(validation)
        generator = random_state.words() if self.shuffle else None
        reorder = None
        if self.shuffle and generator is None:  # a RandomState around another bit generator: drawn in Python

            def reorder(order: np.ndarray) -> None:
                order[:] = shuffled(order, random_state=random_state.generator)

        progress = Progress(1 if incremental else self.max_iter, self.verbose)
        epochs = Epochs(self, rules, X_train.shape[0], len(network.loss_curve), progress)
        self.n_iter_ = 0
        try:
            trainer.run(
                X_train, Y_train, S_train, 1 if incremental else self.max_iter, self._batch_size(X_train.shape[0]),
                self.shuffle, epochs.after_each if self.verbose or self.callback is not None else None, rules,
                generator, reorder,
            )  # fmt: skip
        except KeyboardInterrupt:
            epochs.interrupted = True
            warnings.warn("Training interrupted by user.", TrainingInterrupted, stacklevel=3)
        finally:
            progress.close()
            if generator is not None:
                random_state.give_back(generator)
            epochs.record()
        if self.early_stopping:
            network.theta[:] = self._best_theta
        if epochs.ran_out(incremental):
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _stopping_rules(self, validation) -> StoppingRules:
        """scikit-learn's rules for this fit, their state carried over from the fits before."""
        state = stopping_state(
            float(self.tol), int(self.n_iter_no_change), self.solver == "sgd" and self.learning_rate == "adaptive"
        )
        state[stopping.NO_IMPROVEMENT] = self._no_improvement_count
        if self.early_stopping:
            state[stopping.BEST_SCORE] = self.best_validation_score_
            return StoppingRules(state, self._best_theta, self._score_kind(), *validation)
        state[stopping.BEST_LOSS] = self.best_loss_
        return StoppingRules(state, self._best_theta)

    def _fit_lbfgs(self, network, X, Y, S) -> None:
        """L-BFGS-B over the whole training set (see :mod:`fastbp.engine.lbfgs`)."""
        X = kernel_inputs(X, network.dtype)
        progress = Progress(self.max_iter, self.verbose)
        stopped_by_user = False

        def after_iteration(iteration: int, loss: float) -> bool:
            nonlocal stopped_by_user
            progress.epoch(iteration, loss)
            stop = self.callback is not None and bool(self.callback(self, iteration, loss))
            stopped_by_user = interrupts.pending()
            return stop or stopped_by_user

        try:
            with held_interrupts() as interrupts:
                result = minimize_cost(
                    network, self.backend, X, Y, S, self.max_iter, self.max_fun, self.tol, after_iteration, self.n_jobs
                )
                stopped_by_user = stopped_by_user or interrupts.pending()
        finally:
            progress.close()
        if stopped_by_user or result.get("interrupted", False):
            warnings.warn("Training interrupted by user.", TrainingInterrupted, stacklevel=2)
        elif result.get("diverged", False):
            warnings.warn(
                f"the cost became NaN or infinite at iteration {result.nit + 1}; training stopped and the "
                f"weights after iteration {result.nit} were kept. The input data may hold values too large: "
                "scale them (for example with sklearn.preprocessing.StandardScaler).",
                DivergenceWarning,
                stacklevel=2,
            )
        elif result.status != 0 and not getattr(result, "message", "").startswith("`callback`"):
            warnings.warn(
                f"lbfgs failed to converge after {result.nit} iteration(s) (status={result.status}): {result.message}",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.n_iter_ = min(int(result.nit), self.max_iter)
        self.loss_ = float(result.fun)

    # ---- prediction -------------------------------------------------------------

    def _outputs(self, X) -> np.ndarray:
        """``a^L`` for each row of X, shape (N, n_outputs_), or (N,) for one output."""
        network = self._network if "_network" in self.__dict__ else None
        if network is None:
            check_is_fitted(self)
        X = prediction_input(self, X, network.dtype)  # type: ignore[union-attr]
        outputs = self._synced_network().outputs(X, self.backend, self.n_jobs)
        return outputs.ravel() if self.n_outputs_ == 1 else outputs

    def to_sklearn(self):
        """The scikit-learn estimator with the same parameters and fitted state (weights copied).

        It predicts what this one predicts and continues training
        (``partial_fit``, ``warm_start``) from the same optimiser state.

        Raises
        ------
        ValueError
            If ``activation`` differs between hidden layers: scikit-learn's MLP
            takes one activation for all of them (a list that repeats one name
            becomes that name).
        """
        check_is_fitted(self)
        parameters = {name: value for name, value in self.get_params().items() if name not in FASTBP_ONLY_PARAMETERS}
        if not isinstance(self.activation, str):
            names = set(self.activation)
            if len(names) > 1:
                raise ValueError(
                    f"scikit-learn's MLP takes one activation for all hidden layers; this one has {self.activation!r}"
                )
            parameters["activation"] = names.pop() if names else "relu"  # no hidden layer: any name, unused
        return sklearn_model(
            self._sklearn_counterpart(**parameters),
            fitted_attributes(self),
            self._synced_network(),
            self._best_theta,
            self._trainer,
        )

    @classmethod
    def _from_sklearn(cls, fitted: FittedModel, backend: str, dtype):
        """The estimator holding the state read from a fitted scikit-learn model (see :func:`fastbp.from_sklearn`)."""
        estimator = cls(**fitted.parameters, backend=backend, dtype=dtype)
        for name, value in fitted.attributes.items():
            setattr(estimator, name, value)
        sizes, network_dtype = check_sizes(fitted.sizes), check_dtype(dtype or fitted.dtype)
        theta = theta_from_layers(fitted.coefs, fitted.intercepts, sizes, network_dtype)
        estimator._network = network = estimator._build_network(fitted.sizes, network_dtype, theta)
        estimator._expose_parameters()
        estimator._best_theta = theta_from_layers(
            fitted.best_coefs, fitted.best_intercepts, network.sizes, network.dtype
        )
        estimator._trainer = None
        if fitted.optimizer is not None:
            estimator._trainer = trainer = estimator._new_trainer(network)
            load_optimizer_state(fitted.optimizer, fitted.samples_seen, trainer)
        return estimator


@contextmanager
def kept_on_error(estimator: BaseMLP) -> Iterator[None]:
    """The estimator's attributes as they were before the block, if it raises.

    Checking a refit's input sets ``n_features_in_``, ``feature_names_in_``
    and (classifier) ``classes_`` before all of the input has been checked;
    a refused refit must leave them matching the network fitted before.
    """
    before = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(before)
        raise


def is_classifier_with_one_output(estimator) -> bool:
    """scikit-learn stratifies the validation split only for single-output classification."""
    return isinstance(estimator, ClassifierMixin) and estimator.n_outputs_ == 1


@dataclass
class Epochs:
    """What a stochastic fit records of its epochs in the estimator's attributes, and its ``verbose`` lines.

    :meth:`record` brings ``n_iter_``, ``loss_``, ``t_``, ``loss_curve_``,
    ``validation_scores_``, the best loss or score and
    ``_no_improvement_count`` up to date with the epochs the trainer has
    completed; it runs after every epoch when Python is called back
    (``verbose``, ``callback``), else once after the fit.
    """

    estimator: "BaseMLP"
    rules: StoppingRules
    # samples per epoch, and the network's loss curve entries before this fit
    n_samples: int
    first: int
    progress: Progress
    stopped_by_callback: bool = False
    interrupted: bool = False

    def record(self) -> None:
        """Copy the epochs completed since the last call into the estimator's attributes."""
        estimator, rules = self.estimator, self.rules
        new = estimator._network.loss_curve[self.first + estimator.n_iter_ :]
        if not new:
            return
        estimator.n_iter_ += len(new)
        estimator.t_ += len(new) * self.n_samples
        estimator.loss_curve_.extend(new)
        estimator.loss_ = new[-1]
        state = rules.stopping
        estimator._no_improvement_count = int(state[stopping.NO_IMPROVEMENT])
        if estimator.early_stopping:
            estimator.validation_scores_.extend(rules.scores[len(rules.scores) - len(new) :])
            estimator.best_validation_score_ = float(state[stopping.BEST_SCORE])
        else:
            estimator.best_loss_ = float(state[stopping.BEST_LOSS])

    def after_each(self, network, epoch: int, loss: float) -> bool:
        """The trainer's per-epoch callback: record the epoch, print its line, call the user's callback."""
        estimator = self.estimator
        self.record()
        scores = estimator.validation_scores_
        self.progress.epoch(estimator.n_iter_, loss, scores[-1] if estimator.early_stopping else None)
        state = self.rules.stopping
        if state[stopping.RATE_CUTS] or state[stopping.STATUS] == stopping.CONVERGED:
            subject = "Validation score" if estimator.early_stopping else "Training loss"
            message = (
                f"{subject} did not improve more than tol={estimator.tol:f} for "
                f"{estimator.n_iter_no_change} consecutive epochs."
            )
            if state[stopping.RATE_CUTS]:
                rate = estimator._trainer.hyper[optim.LEARNING_RATE]  # type: ignore[union-attr]
                self.progress.note(f"{message} Setting learning rate to {rate:f}")
            elif estimator.solver == "sgd" and estimator.learning_rate == "adaptive":
                self.progress.note(f"{message} Learning rate too small. Stopping.")
            else:
                self.progress.note(f"{message} Stopping.")
        if estimator.callback is not None and estimator.callback(estimator, estimator.n_iter_, loss):
            self.stopped_by_callback = True
        return self.stopped_by_callback

    def ran_out(self, incremental: bool) -> bool:
        """Whether the fit ran all ``max_iter`` epochs without converging (scikit-learn's ConvergenceWarning)."""
        estimator = self.estimator
        return (
            not incremental
            and not self.stopped_by_callback
            and not self.interrupted
            and estimator.n_iter_ == estimator.max_iter
            and self.rules.stopping[stopping.STATUS] == stopping.RAN_ALL
        )
