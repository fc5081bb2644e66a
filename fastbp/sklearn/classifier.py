"""``MLPClassifier``: scikit-learn's multi-layer perceptron classifier, trained by fastbp's kernels."""

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted

from fastbp.numerics import stopping
from fastbp.sklearn.base import STOCHASTIC_SOLVERS, BaseMLP, set_parameters
from fastbp.sklearn.validation import (
    check_class_weight,
    check_known_labels,
    class_labels,
    fitted_label_binarizer,
    naming,
    validate_inputs,
)


def label_index(classes: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Each label's index in ``classes`` (sorted, distinct, of ``y``'s dtype), or None if some label is not a class.

    Integer classes ``0 .. C-1`` (sorted and distinct, so exactly those: the
    labels of most datasets) need no search: a label is its own index, once
    every label is known to lie in that range.  Others are found by a binary
    search, then checked.
    """
    if classes.dtype.kind == "i" and classes[0] == 0 and classes[-1] == len(classes) - 1:
        return y if y.min() >= 0 and y.max() < len(classes) else None
    index = np.searchsorted(classes, y)
    return index if (classes.take(index, mode="clip") == y).all() else None


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``, trained by fastbp's kernels.

    Minimises the log-loss (softmax output for several classes, logistic
    output for two classes and for multilabel indicator targets) by
    L-BFGS-B, SGD or Adam.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
        Units of each hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu'} or list of them, default='relu'
        sigma_l of the hidden layers: one name for all of them, as in
        scikit-learn, or one per hidden layer (``['relu', 'tanh']``, as long as
        ``hidden_layer_sizes``; scikit-learn #10097).  ``to_sklearn`` then needs one
        name repeated.
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
    class_weight : dict {label: weight}, 'balanced' or None, default=None
        Weights of the classes (scikit-learn's MLP has none: its issue #9113):
        each sample's s_n is multiplied by its class's weight (1 for a class
        the dict leaves out), and by ``sample_weight`` if given.  'balanced'
        weighs each class by ``n_samples / (n_classes * np.bincount(y))``
        (scikit-learn's ``compute_sample_weight``), counted over the y of each
        call to ``fit`` or ``partial_fit``; as scikit-learn's ``SGDClassifier``,
        the first ``partial_fit`` refuses it.  With ``early_stopping`` the
        weights are computed on all of y before the validation split (which
        they leave as it is), and the validation accuracy is weighted by them,
        as by ``sample_weight`` (as scikit-learn's ``HistGradientBoostingClassifier``
        does; its ``SGDClassifier`` scores the split without them).
        Single-output targets only; ``to_sklearn`` leaves it out.
    backend : str, default='auto'
        fastbp's backend for the epochs and predictions ('auto', 'serial',
        'parallel', 'numpy', 'reference' and any other registered in
        :mod:`fastbp.backends`).
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
        class_weight=None,
        backend="auto",
        n_jobs=None,
        dtype=None,
        callback=None,
    ):
        set_parameters(self, locals())

    _sklearn_counterpart = SklearnMLPClassifier

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _check_params(self) -> None:
        super()._check_params()
        check_class_weight(self.class_weight)

    def _sample_weights(self, sample_weight, Y: np.ndarray, dtype) -> np.ndarray:
        """s_n: ``sample_weight`` times the ``class_weight`` of sample n's class (``Y``: its indicator row)."""
        if self.class_weight is None:
            return super()._sample_weights(sample_weight, Y, dtype)
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            raise ValueError(
                "class_weight is for single-output targets, y is a multilabel indicator matrix: give the "
                "samples' weights as sample_weight instead (for instance from "
                "sklearn.utils.class_weight.compute_sample_weight)"
            )
        codes = Y.argmax(axis=1) if Y.shape[1] > 1 else Y[:, 0].astype(np.intp)  # each sample's index in classes_
        if self.class_weight == "balanced":
            class_weights = compute_sample_weight("balanced", codes)
        else:
            labels = self.classes_.tolist()
            unknown = [label for label in self.class_weight if label not in labels]
            if unknown:
                raise ValueError(
                    f"class_weight gives weights to label(s) {unknown} that are not classes of y (classes_ = {labels})"
                )
            class_weights = np.array([self.class_weight.get(label, 1.0) for label in labels], dtype=np.float64)[codes]
        weights = (super()._sample_weights(sample_weight, Y, np.float64) * class_weights).astype(dtype)
        if not (np.all(np.isfinite(weights)) and np.any(weights)):
            raise ValueError(
                f"sample_weight times class_weight must be finite and not all 0 in {np.dtype(dtype).name}; "
                f"got weights from {weights.min()} to {weights.max()}"
            )
        return weights

    def _output_activation(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        """X as floats, y as the label binarizer's indicator matrix (classes checked as scikit-learn does)."""
        X, y = validate_inputs(self, X, y, multi_output=True, dtype=self._input_dtype(), reset=reset)
        with class_labels():
            if y.ndim == 2 and y.shape[1] == 1:
                y = column_or_1d(y, warn=True)
            new_classes = not hasattr(self, "classes_") or (not self.warm_start and not incremental)
            if new_classes:
                self._label_binarizer = fitted_label_binarizer(y)
                self.classes_ = self._label_binarizer.classes_
            indicator = self._known_labels_indicator(y, self.warm_start and not incremental, X.dtype)
            if indicator is not None:
                return X, indicator
            if not new_classes:
                if self.warm_start and set(unique_labels(y)) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the previous call "
                        f"to fit. Previously got {self.classes_}, `y` has {unique_labels(y)}"
                    )
                check_known_labels(y, self.classes_)
            return X, self._label_binarizer.transform(y)

    def _known_labels_indicator(self, y: np.ndarray, every_class: bool, dtype=np.int64) -> np.ndarray | None:
        """The label binarizer's ``transform`` of plain labels already seen (each class, if ``every_class``), or None.

        Every fit encodes 1-d labels of the classes' own dtype here, by
        :func:`label_index` (which also checks the labels of the fits that
        continue, ``warm_start`` and ``partial_fit``); anything else (and
        any label not in ``classes_``) goes through scikit-learn's checks, with
        their errors.  The indicator is built in ``dtype`` (the fit's float
        type: no integer matrix to convert afterwards), as rows of the identity.
        """
        classes = self.classes_
        kind = self._label_binarizer.y_type_
        if y.ndim != 1 or y.dtype != classes.dtype or y.dtype == object or kind not in ("binary", "multiclass"):
            return None
        if len(classes) < 2:
            return None
        index = label_index(classes, y)
        if index is None:
            return None
        if every_class and not np.bincount(index, minlength=len(classes)).all():
            return None
        if kind == "binary":
            return index[:, None].astype(dtype)
        return np.eye(len(classes), dtype=dtype).take(index, axis=0)

    def _score_kind(self) -> int:
        """Early stopping's score, the validation accuracy (of the largest output, or of each side of 0.5)."""
        return stopping.ACCURACY_ARGMAX if self.out_activation_ == "softmax" else stopping.ACCURACY_THRESHOLD

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (any type scikit-learn accepts), or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            s_n: each sample's delta^L is scaled by s_n and N becomes sum_n s_n;
            multiplied by ``class_weight``'s weights if it is set.

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
            if isinstance(self.class_weight, str) and self.class_weight == "balanced":
                raise ValueError(
                    "class_weight='balanced' is not supported by the first call to partial_fit: give the "
                    "weights as a dict, for instance dict(zip(classes, sklearn.utils.class_weight."
                    "compute_class_weight('balanced', classes=classes, y=y))), with a y large enough to "
                    "estimate the classes' frequencies"
                )
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
        return self._labels(self._outputs(X))

    def _labels(self, outputs: np.ndarray) -> np.ndarray:
        """The label binarizer's ``inverse_transform`` of the outputs, for the three kinds of target."""
        kind = self._label_binarizer.y_type_
        if kind == "multiclass":
            return self.classes_.take(outputs.argmax(axis=1), mode="clip")
        if kind == "multilabel-indicator":
            return (outputs > 0.5).astype(int)
        if kind == "binary" and len(self.classes_) == 2:
            return self.classes_[(outputs > 0.5).astype(np.intp)]
        return self._label_binarizer.inverse_transform(outputs)

    def predict_proba(self, X):
        """Probability of each class (columns ordered as ``classes_``), shape (n_samples, n_classes)."""
        outputs = self._outputs(X)
        if outputs.ndim == 1:
            return np.column_stack((1 - outputs, outputs))
        return outputs

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy of :meth:`predict` on ``(X, y)``.

        Labels in ``y`` that are not in ``classes_`` are refused with a
        ``ValueError`` that names them (the classifier could never predict them).
        """
        check_is_fitted(self)
        plain = (
            type(y) is np.ndarray
            and y.ndim == 1
            and y.dtype == self.classes_.dtype
            and sample_weight is None
            and bool(np.isin(y, self.classes_).all())
        )
        if not plain:
            check_known_labels(y, self.classes_)
        predicted = self.predict(X)
        if plain and y.shape == predicted.shape:
            # accuracy_score's value for plain labels, without its checks (y is what predict returns)
            return float(np.mean(y == predicted))
        with naming("y"):
            return accuracy_score(y, predicted, sample_weight=sample_weight)

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        probabilities = self.predict_proba(X)
        return np.log(probabilities, out=probabilities)
