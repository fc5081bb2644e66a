"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor``, trained by fastbp's compiled kernels.

Drop-in: the same constructor parameters, defaults and meanings, the same
fitted attributes and methods, and, for a given ``random_state``, the same
initial weights, the same shuffling and the same split for early stopping,
so that a fit follows scikit-learn's trajectory step for step (the tests
check it to 1e-10 relative in float64).  Two parameters are fastbp's own:
``backend`` (which compiled kernels run the epochs) and ``dtype``.

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

Differences, all deliberate: sparse input is refused (the kernels are
dense); a NaN or infinite epoch cost (or weights) stops training with a
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
from numbers import Integral, Real

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state, column_or_1d
    from sklearn.utils import shuffle as shuffled
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted
except ImportError as error:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "fastbp.MLPClassifier and fastbp.MLPRegressor need scikit-learn: pip install fastbp[sklearn]"
    ) from error

from fastbp.backends import check_n_jobs, get_backend
from fastbp.sklearn.progress import Progress
from fastbp.engine.interrupts import TrainingInterrupted, held_interrupts
from fastbp.engine.lbfgs import minimize_cost
from fastbp.engine.network import Network
from fastbp.engine.training import DivergenceWarning, Trainer
from fastbp.engine.validation import check_dtype, check_non_negative_float, check_positive_int, kernel_array
from fastbp.numerics import layout, optim
from fastbp.sklearn.validation import (
    check_known_labels,
    class_labels,
    naming,
    refuse_strings,
    validate_features,
    validate_inputs,
)

STOCHASTIC_SOLVERS = ("sgd", "adam")
# scikit-learn's name of the output activation -> fastbp's (activation, cost) pair.
OUTPUT_PAIRS = {
    "identity": ("identity", "mse"),
    "logistic": ("sigmoid", "binary_cross_entropy"),
    "softmax": ("softmax", "categorical_cross_entropy"),
    "exp": ("exp", "poisson"),
}
# 'adaptive' divides the learning rate by this when the loss stops improving,
# and stops training once it is at most MIN_ADAPTIVE_RATE (scikit-learn's values).
ADAPTIVE_DIVISOR = 5.0
MIN_ADAPTIVE_RATE = 1e-6
# batch_size='auto' means min(AUTO_BATCH, n_samples).
AUTO_BATCH = 200
CHOICES = {
    "activation": ("identity", "logistic", "tanh", "relu"),
    "solver": ("lbfgs", "sgd", "adam"),
    "learning_rate": ("constant", "invscaling", "adaptive"),
}
FLAGS = ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping")


def check_unit_interval(value, name: str, closed_right: bool) -> float:
    """A real number in [0, 1] (``closed_right``) or [0, 1)."""
    value = check_non_negative_float(value, name)
    if value > 1 or (value == 1 and not closed_right):
        raise ValueError(f"{name} must be in [0, 1{']' if closed_right else ')'}, got {value}")
    return value


def check_hidden_layer_sizes(sizes) -> list[int]:
    """``hidden_layer_sizes`` as a list of positive integers (one integer is one layer)."""
    sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, Integral) or size < 1:
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}")
    return [int(size) for size in sizes]


def check_sample_weight(sample_weight, n_samples: int, dtype) -> np.ndarray:
    """The samples' weights s_n as a contiguous array of ``dtype`` (all 1 for None; a number for all)."""
    if sample_weight is None:
        return np.ones(n_samples, dtype=dtype)
    weights = np.asarray(sample_weight)
    if weights.ndim == 0:
        weights = np.full(n_samples, weights)
    if weights.ndim != 1 or weights.shape[0] != n_samples:
        raise ValueError(f"sample_weight.shape == {weights.shape}, expected ({n_samples},)")
    if weights.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must hold numbers, got dtype {weights.dtype}")
    weights = np.array(weights, dtype=dtype, order="C")
    if not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight contains NaN or infinite values")
    if not np.any(weights):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return weights


def set_parameters(estimator, values: dict) -> None:
    """``__init__``'s arguments as attributes of the same names, unchanged (scikit-learn's convention)."""
    for name, value in values.items():
        if name != "self":
            setattr(estimator, name, value)


class BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, fitting, the network."""

    def _check_params(self) -> None:
        """Every constructor parameter, checked once per fit (scikit-learn's rules)."""
        check_hidden_layer_sizes(self.hidden_layer_sizes)
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        for name in FLAGS:
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        check_non_negative_float(self.alpha, "alpha")
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            check_positive_int(self.batch_size, "batch_size")
        check_non_negative_float(self.learning_rate_init, "learning_rate_init", positive=True)
        check_non_negative_float(self.power_t, "power_t")
        check_positive_int(self.max_iter, "max_iter")
        check_non_negative_float(self.tol, "tol")
        check_unit_interval(self.momentum, "momentum", closed_right=True)
        check_unit_interval(self.validation_fraction, "validation_fraction", closed_right=False)
        check_unit_interval(self.beta_1, "beta_1", closed_right=False)
        check_unit_interval(self.beta_2, "beta_2", closed_right=False)
        check_non_negative_float(self.epsilon, "epsilon", positive=True)
        if not (isinstance(self.n_iter_no_change, Real) and self.n_iter_no_change == np.inf):
            check_positive_int(self.n_iter_no_change, "n_iter_no_change")
        check_positive_int(self.max_fun, "max_fun")
        get_backend(self.backend)
        if self.n_jobs is not None:
            check_n_jobs(self.n_jobs)
        if self.dtype is not None:
            check_dtype(self.dtype)
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"callback must be callable or None, got {self.callback!r}")

    # ---- the network behind coefs_ and intercepts_ ------------------------------

    def _input_dtype(self):
        """What ``validate_data`` converts X to: float32 kept (dtype None), else float64; or ``dtype``."""
        return (np.float64, np.float32) if self.dtype is None else check_dtype(self.dtype)

    def _build_network(self, sizes: list[int], dtype) -> Network:
        """A network of this estimator's hidden and output activations (weights to be set)."""
        output_activation, cost = OUTPUT_PAIRS[self.out_activation_]
        return Network(sizes, self.activation, output_activation, cost, l2=float(self.alpha), dtype=dtype, seed=0)

    def _expose_parameters(self) -> None:
        """Point ``coefs_[l - 1]`` at ``W[l].T`` and ``intercepts_[l - 1]`` at ``b[l]`` (views)."""
        network = self._network
        self.coefs_ = [W.T for W in network.W[1:]]
        self.intercepts_ = list(network.b[1:])

    @property
    def network_(self) -> Network:
        """The fitted :class:`~fastbp.Network` itself (not a copy): ``W[l]`` is ``coefs_[l - 1].T``.

        Its parameters are those of ``coefs_`` and ``intercepts_``; training the
        estimator further changes them.  ``network_.copy()`` keeps a snapshot.
        """
        check_is_fitted(self)
        return self._synced_network()

    def _synced_network(self) -> Network:
        """The network, with ``coefs_`` and ``intercepts_`` copied into it if they were replaced."""
        network = self._network
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
        return {name: value for name, value in super().__getstate__().items() if name not in ("coefs_", "intercepts_")}

    def __setstate__(self, state: dict) -> None:
        """Restore a pickled estimator with writeable buffers (a memory map may hand them back read-only)."""
        super().__setstate__(state)
        if hasattr(self, "_network"):
            holders = [(self._network, ("theta", "sizes", "codes", "rng_state"))]
            if self._trainer is not None:
                holders.append((self._trainer, ("hyper", "velocity", "second_moment", "counters")))
            for holder, names in holders:
                for name in names:
                    setattr(holder, name, np.array(getattr(holder, name)))
            self._expose_parameters()

    def _initialize(self, Y: np.ndarray, sizes: list[int], dtype, random_state) -> None:
        """Fitted state for a first fit: scikit-learn's Glorot-uniform draws, in its order.

        For each layer, ``coefs_[i]`` (``(n_in, n_out)``) and then
        ``intercepts_[i]`` are drawn from U(-r, r), ``r = sqrt(f / (n_in + n_out))``,
        ``f = 2`` for logistic hidden units and 6 otherwise, so that one
        ``random_state`` gives scikit-learn's initial weights.
        """
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(sizes)
        self.out_activation_ = self._output_activation()
        self._network = self._build_network(sizes, dtype)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for l in range(1, len(sizes)):
            bound = np.sqrt(factor / (sizes[l - 1] + sizes[l]))
            coef = random_state.uniform(-bound, bound, (sizes[l - 1], sizes[l]))
            layout.weights(self._network.theta, self._network.sizes, l)[:] = coef.T
            layout.biases(self._network.theta, self._network.sizes, l)[:] = random_state.uniform(
                -bound, bound, sizes[l]
            )
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
        self._check_params()
        hidden = check_hidden_layer_sizes(self.hidden_layer_sizes)
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        dtype = X.dtype if first_pass else self._network.dtype
        X = kernel_array(X, dtype)
        Y = kernel_array(Y.reshape(X.shape[0], -1), dtype)
        S = check_sample_weight(sample_weight, X.shape[0], dtype)
        random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, [X.shape[1], *hidden, Y.shape[1]], dtype, random_state)
        network = self._synced_network()
        self._expose_parameters()
        network.l2 = float(self.alpha)
        if self.solver in STOCHASTIC_SOLVERS:
            self._fit_stochastic(network, X, Y, S, random_state, incremental)
        else:
            self._fit_lbfgs(network, X, Y, S)
        if not np.all(np.isfinite(network.theta)):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain large values "
                "and need to be preprocessed."
            )
        return self

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

    def _split(self, X, Y, S, random_state) -> tuple:
        """``(X, Y, S)`` to train on and ``(X, y, S)`` to validate on (None without early stopping).

        Like scikit-learn: ``validation_fraction`` of the samples, stratified
        for single-output classification, drawn from ``random_state``.
        """
        if not self.early_stopping:
            return (X, Y, S), None
        stratify = Y if is_classifier_with_one_output(self) else None
        X_train, X_val, Y_train, Y_val, S_train, S_val = train_test_split(
            X, Y, S, random_state=random_state, test_size=self.validation_fraction, stratify=stratify
        )
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
            )
        return (X_train, Y_train, S_train), (X_val, self._validation_targets(Y_val), S_val)

    def _batch_size(self, n_samples: int) -> int:
        if isinstance(self.batch_size, str):
            return min(AUTO_BATCH, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped", stacklevel=2
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    def _fit_stochastic(self, network, X, Y, S, random_state, incremental: bool) -> None:
        """sgd or adam, one compiled epoch at a time: scikit-learn's stopping rules run between epochs.

        Each epoch's order comes from ``random_state`` as in scikit-learn
        (the samples are permuted here and the compiled epoch runs them in
        that order), so that shuffled runs match it too.
        """
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if not incremental or self._trainer is None:
            self._trainer = self._new_trainer(network)
        trainer = self._trainer
        trainer.counters[optim.SAMPLES_SEEN] = self.t_
        (X_train, Y_train, S_train), validation = self._split(X, Y, S, random_state)
        progress = Progress(1 if incremental else self.max_iter, self.verbose)
        self.n_iter_ = 0
        try:
            with held_interrupts() as interrupts:
                self._epochs(
                    trainer,
                    network,
                    X_train,
                    Y_train,
                    S_train,
                    validation,
                    random_state,
                    incremental,
                    progress,
                    interrupts,
                )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", TrainingInterrupted, stacklevel=2)
        finally:
            progress.close()
        if self.early_stopping:
            network.theta[:] = self._best_theta

    def _epochs(
        self,
        trainer,
        network,
        X_train,
        Y_train,
        S_train,
        validation,
        random_state,
        incremental: bool,
        progress,
        interrupts,
    ) -> None:
        """The epochs of :meth:`_fit_stochastic`, each recorded in full before a Ctrl-C may stop them."""
        n_samples = X_train.shape[0]
        batch_size = self._batch_size(n_samples)
        order = np.arange(n_samples)
        for _ in range(self.max_iter):
            epoch = (X_train, Y_train, S_train)
            if self.shuffle:
                order = shuffled(order, random_state=random_state)
                epoch = (X_train[order], Y_train[order], S_train[order])
            if trainer.run(*epoch, 1, batch_size, shuffle=False) == 0:
                break  # the cost diverged: Trainer warned and kept the last finite weights
            self.n_iter_ += 1
            self.loss_ = network.loss_curve[-1]
            self.t_ += n_samples
            self.loss_curve_.append(self.loss_)
            self._update_no_improvement_count(validation)
            progress.epoch(self.n_iter_, self.loss_, self.validation_scores_[-1] if validation else None)
            stop = self._no_improvement_count > self.n_iter_no_change and self._stop_or_slow_down(progress)
            if self.callback is not None and self.callback(self, self.n_iter_, self.loss_):
                stop = True
            if interrupts.pending():
                raise KeyboardInterrupt
            if stop or incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                    "optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=2,
                )

    def _update_no_improvement_count(self, validation) -> None:
        """Count the epochs without an improvement of more than ``tol`` (validation score or training loss)."""
        if validation is not None:
            score = self._validation_score(*validation)
            self.validation_scores_.append(score)
            # (written as scikit-learn's test, so that a NaN score counts the same way)
            improved = not score < self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_theta = self._network.theta.copy()
        else:
            improved = not self.loss_curve_[-1] > self.best_loss_ - self.tol
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]
        self._no_improvement_count = 0 if improved else self._no_improvement_count + 1

    def _stop_or_slow_down(self, progress: Progress) -> bool:
        """No improvement for ``n_iter_no_change`` epochs: stop, or (sgd, 'adaptive') divide the rate by 5."""
        subject = "Validation score" if self.early_stopping else "Training loss"
        message = (
            f"{subject} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} consecutive epochs."
        )
        hyper = self._trainer.hyper
        if self.solver == "sgd" and self.learning_rate == "adaptive" and hyper[optim.LEARNING_RATE] > MIN_ADAPTIVE_RATE:
            hyper[optim.LEARNING_RATE] /= ADAPTIVE_DIVISOR
            self._no_improvement_count = 0
            progress.note(f"{message} Setting learning rate to {hyper[optim.LEARNING_RATE]:f}")
            return False
        progress.note(f"{message} Stopping.")
        return True

    def _fit_lbfgs(self, network, X, Y, S) -> None:
        """L-BFGS-B over the whole training set (see :mod:`fastbp.engine.lbfgs`)."""
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
        check_is_fitted(self)
        X = validate_features(self, X, self._input_dtype())
        outputs = self._synced_network().predict(X, backend=self.backend)
        return outputs.ravel() if self.n_outputs_ == 1 else outputs

    def to_sklearn(self):
        """The scikit-learn estimator with the same parameters and fitted state (weights copied).

        It predicts what this one predicts and continues training
        (``partial_fit``, ``warm_start``) from the same optimiser state.
        """
        from fastbp.sklearn.interchange import to_sklearn

        return to_sklearn(self)


def is_classifier_with_one_output(estimator) -> bool:
    """scikit-learn stratifies the validation split only for single-output classification."""
    return isinstance(estimator, ClassifierMixin) and estimator.n_outputs_ == 1


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``, trained by fastbp's kernels.

    Minimises the log-loss (softmax output for several classes, logistic
    output for two classes and for multilabel indicator targets) by
    L-BFGS-B, SGD or Adam.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
        Units of each hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        sigma_l of the hidden layers.
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
    alpha : float, default=0.0001
        L2 penalty lambda: C gets ``(alpha / 2N) sum (W^l_kj)^2``.
    batch_size : int or 'auto', default='auto'
        Samples per update; 'auto' is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        sgd's schedule: 'invscaling' is ``learning_rate_init / (t + 1)^power_t``
        after each epoch (t = samples seen, computed inside the compiled
        epoch); 'adaptive' divides the rate by 5 whenever the loss (or
        validation score) has not improved by ``tol`` for ``n_iter_no_change``
        epochs, and stops once it is below 1e-6.
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5
    max_iter : int, default=200
        Epochs (sgd, adam) or iterations (lbfgs).
    shuffle : bool, default=True
        Reshuffle the samples before each epoch (with ``random_state``'s draws).
    random_state : int, RandomState instance or None, default=None
        The initial weights, the shuffling and the validation split, drawn
        exactly as scikit-learn draws them.
    tol : float, default=1e-4
    verbose : bool, default=False
        A progress bar with each epoch's loss (tqdm if installed, else one line per epoch).
    warm_start : bool, default=False
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's hyperparameters.
    n_iter_no_change : int, default=10
    max_fun : int, default=15000
        lbfgs: the most evaluations of the loss and its gradient.
    backend : str, default='auto'
        fastbp's backend for the epochs and predictions ('auto', 'serial',
        'parallel', 'numpy' and any other registered in :mod:`fastbp.backends`).
    n_jobs : int or None, default=None
        Threads for the 'parallel' and 'auto' backends; None uses Numba's
        thread count (``numba.set_num_threads`` / ``NUMBA_NUM_THREADS``).
    dtype : {None, 'float32', 'float64'}, default=None
        The float type of the weights and computations; None keeps float32
        input in float32 and converts anything else to float64 (as scikit-learn does).
    callback : callable or None, default=None
        Called as ``callback(estimator, epoch, loss)`` after every epoch
        (sgd, adam) or iteration (lbfgs); returning True stops training.

    Attributes
    ----------
    classes_, coefs_, intercepts_, loss_, loss_curve_, best_loss_, validation_scores_,
    best_validation_score_, n_iter_, t_, n_layers_, n_outputs_, out_activation_,
    n_features_in_, feature_names_in_
        As in scikit-learn; ``coefs_[l - 1]`` is ``W[l].T`` (see the module docstring,
        also for which loss ``loss_`` reports).
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        backend="auto",
        n_jobs=None,
        dtype=None,
        callback=None,
    ):
        set_parameters(self, locals())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _output_activation(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        """X as floats, y as the label binarizer's indicator matrix (classes checked as scikit-learn does)."""
        X, y = validate_inputs(self, X, y, multi_output=True, dtype=self._input_dtype(), reset=reset)
        with class_labels():
            if y.ndim == 2 and y.shape[1] == 1:
                y = column_or_1d(y, warn=True)
            if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
                self._label_binarizer = LabelBinarizer().fit(y)
                self.classes_ = self._label_binarizer.classes_
            elif self.warm_start and set(unique_labels(y)) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the previous call "
                    f"to fit. Previously got {self.classes_}, `y` has {unique_labels(y)}"
                )
            else:
                check_known_labels(y, self.classes_)
            return X, self._label_binarizer.transform(y)

    def _validation_targets(self, Y_val: np.ndarray) -> np.ndarray:
        return self._label_binarizer.inverse_transform(Y_val)

    def _validation_score(self, X, y, sample_weight) -> float:
        outputs = self._network.predict(X, backend=self.backend)
        if not np.all(np.isfinite(outputs)):
            return np.nan
        labels = self._label_binarizer.inverse_transform(outputs.ravel() if self.n_outputs_ == 1 else outputs)
        return accuracy_score(y, labels, sample_weight=sample_weight)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (any type scikit-learn accepts), or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            s_n: each sample's delta^L is scaled by s_n and N becomes sum_n s_n.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda estimator: estimator.solver in STOCHASTIC_SOLVERS)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over the given data, continuing the optimiser's state (sgd and adam only).

        Parameters
        ----------
        X, y, sample_weight
            As in :meth:`fit`.
        classes : array of shape (n_classes,), default=None
            All the classes, required on the first call.

        Returns
        -------
        self
        """
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(
                f"`classes={classes!r}` is not the same as on last call to partial_fit, was: {self.classes_!r}"
            )
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predicted class labels, shape (n_samples,) or (n_samples, n_classes) for multilabel."""
        outputs = self._outputs(X)
        return self._label_binarizer.inverse_transform(outputs)

    def predict_proba(self, X):
        """Probability of each class (columns ordered as ``classes_``), shape (n_samples, n_classes)."""
        outputs = self._outputs(X)
        if outputs.ndim == 1:
            return np.vstack([1 - outputs, outputs]).T
        return outputs

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy of :meth:`predict` on ``(X, y)``.

        Labels in ``y`` that are not in ``classes_`` are refused with a
        ``ValueError`` that names them (the classifier could never predict them).
        """
        check_is_fitted(self)
        check_known_labels(y, self.classes_)
        predicted = self.predict(X)
        with naming("y"):
            return accuracy_score(y, predicted, sample_weight=sample_weight)

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        probabilities = self.predict_proba(X)
        return np.log(probabilities, out=probabilities)


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor``, trained by fastbp's kernels.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        Half the squared error (identity output), or half the Poisson
        deviance with an exp output (targets >= 0).
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, learning_rate_init,
    power_t, max_iter, shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum,
    early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun,
    backend, n_jobs, dtype, callback
        As in :class:`MLPClassifier`.

    Attributes
    ----------
    coefs_, intercepts_, loss_, loss_curve_, best_loss_, validation_scores_, best_validation_score_,
    n_iter_, t_, n_layers_, n_outputs_, out_activation_, n_features_in_, feature_names_in_
        As in scikit-learn (see the module docstring for ``coefs_`` and ``loss_``).
    """

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        backend="auto",
        n_jobs=None,
        dtype=None,
        callback=None,
    ):
        set_parameters(self, locals())

    def _output_activation(self) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"loss must be 'squared_error' or 'poisson', got {self.loss!r}")
        X, y = validate_inputs(self, X, y, multi_output=True, y_numeric=True, dtype=self._input_dtype(), reset=reset)
        refuse_strings(y, "y")
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs non-negative targets y")
        return X, y

    def _validation_targets(self, Y_val: np.ndarray) -> np.ndarray:
        return Y_val

    def _validation_score(self, X, y, sample_weight) -> float:
        outputs = self._network.predict(X, backend=self.backend)
        if not np.all(np.isfinite(outputs)):
            return np.nan
        return r2_score(y, outputs, sample_weight=sample_weight)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y (see :meth:`MLPClassifier.fit`)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda estimator: estimator.solver in STOCHASTIC_SOLVERS)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over the given data, continuing the optimiser's state (sgd and adam only)."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predicted values, shape (n_samples,) or (n_samples, n_outputs)."""
        return self._outputs(X)

    def score(self, X, y, sample_weight=None) -> float:
        """The coefficient of determination R^2 of :meth:`predict` on ``(X, y)``."""
        predicted = self.predict(X)
        refuse_strings(y, "y")
        with naming("y"):
            return r2_score(y, predicted, sample_weight=sample_weight)


def from_sklearn(model, backend: str = "auto", dtype=None):
    """The fastbp estimator with the parameters and fitted state of a fitted scikit-learn MLP.

    See :func:`fastbp.sklearn.interchange.from_sklearn`.
    """
    from fastbp.sklearn.interchange import from_sklearn as convert

    return convert(model, backend=backend, dtype=dtype)
