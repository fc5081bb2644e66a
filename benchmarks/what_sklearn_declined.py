"""Issue 20's two real-data examples: class_weight on imbalanced classes, robust losses against outliers.

Imbalanced classification: ``MLPClassifier((16,), max_iter=300)`` with and
without ``class_weight="balanced"`` on scikit-learn's breast cancer data
(malignant as the positive class, 37%, and thinned to about 11%) and on the
digits bundled with fastbp (8 against the rest, 10%); a stratified 30% held
out; the held-out balanced accuracy and the minority's recall.

Regression with outliers: scikit-learn's diabetes data, standardised, a
quarter held out, and 10% of the training targets shifted by 8 standard
deviations; ``MLPRegressor((32,), max_iter=300)`` with the squared error,
Huber's loss (``huber_epsilon=1.0``), the absolute error and log-cosh; the
held-out median absolute error, against the clean targets.

Medians over ``--seeds`` seeds (each seeds the split, the outliers and ``random_state``)::

    python benchmarks/what_sklearn_declined.py --seeds 7
"""

import argparse
import statistics
import warnings

import numpy as np

LOSSES = ("squared_error", "huber", "absolute_error", "log_cosh")


def imbalanced_problems():
    """(name, X, y) of three imbalanced binary problems, the minority labelled 1."""
    from sklearn.datasets import load_breast_cancer

    from fastbp.datasets import load_digits

    X, y = load_breast_cancer(return_X_y=True)
    yield "breast cancer, malignant 37%", X, (y == 0).astype(int)
    kept = (y == 1) | (np.arange(y.size) % 5 == 0)
    yield "breast cancer, malignant thinned to 11%", X[kept], (y[kept] == 0).astype(int)
    images, labels = load_digits()
    yield "digits, 8 against the rest (10%)", images.astype(float), (labels == 8).astype(int)


def class_weight_scores(X, y, seed: int) -> dict:
    """Held-out (balanced accuracy, minority recall) without and with class_weight='balanced'."""
    from sklearn.metrics import balanced_accuracy_score, recall_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from fastbp import MLPClassifier

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(X_train)
    scores = {}
    for class_weight in (None, "balanced"):
        model = MLPClassifier((16,), max_iter=300, random_state=seed, class_weight=class_weight)
        predicted = model.fit(scaler.transform(X_train), y_train).predict(scaler.transform(X_test))
        scores[class_weight] = (balanced_accuracy_score(y_test, predicted), recall_score(y_test, predicted))
    return scores


def outlier_errors(seed: int) -> dict:
    """The held-out median absolute error of each loss, trained on targets with 10% outliers."""
    from sklearn.datasets import load_diabetes

    from fastbp import MLPRegressor

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (y - y.mean()) / y.std()
    rng = np.random.default_rng(seed)
    test = rng.permutation(y.size)[: y.size // 4]
    train = np.setdiff1d(np.arange(y.size), test)
    y_train = y[train].copy()
    shifted = rng.choice(train.size, train.size // 10, replace=False)
    y_train[shifted] += 8 * rng.choice([-1.0, 1.0], shifted.size)
    errors = {}
    for loss in LOSSES:
        model = MLPRegressor(loss=loss, hidden_layer_sizes=(32,), max_iter=300, random_state=seed, huber_epsilon=1.0)
        errors[loss] = float(np.median(np.abs(model.fit(X[train], y_train).predict(X[test]) - y[test])))
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=7, help="seeds per problem (default 7)")
    seeds = range(parser.parse_args().seeds)
    warnings.simplefilter("ignore")  # ConvergenceWarning: 300 epochs, as configured
    for name, X, y in imbalanced_problems():
        runs = [class_weight_scores(X, y, seed) for seed in seeds]
        print(f"{name} (n={y.size}), medians over {len(runs)} seeds:")
        for class_weight in (None, "balanced"):
            accuracy = statistics.median(run[class_weight][0] for run in runs)
            recall = statistics.median(run[class_weight][1] for run in runs)
            print(f"  class_weight={class_weight!s:9} balanced accuracy {accuracy:.4f}, minority recall {recall:.4f}")
        better = sum(run["balanced"][0] > run[None][0] for run in runs)
        print(f"  'balanced' better in {better} of {len(runs)} seeds")
    runs = [outlier_errors(seed) for seed in seeds]
    print(f"diabetes, 10% outliers: held-out median absolute error (standardised y), medians of {len(runs)} seeds:")
    for loss in LOSSES:
        print(f"  {loss:15} {statistics.median(run[loss] for run in runs):.4f}")


if __name__ == "__main__":
    main()
