"""Gradient descent on a function of one variable: w <- w - alpha df/dw.

The first source text's picture: standing at a point of f(w) = (w - 3)^2 + 1,
knowing only the slope there, step downhill in proportion to it.  A small
alpha creeps, a larger one gets there fast, one too large overshoots and
diverges.

Run: python examples/gradient_descent_1d.py
"""

from fastbp import gradient_descent_1d


def f(w: float) -> float:
    return (w - 3.0) ** 2 + 1.0


def df_dw(w: float) -> float:
    return 2.0 * (w - 3.0)


def main() -> None:
    for alpha in (0.05, 0.3, 1.05):
        path = gradient_descent_1d(df_dw, w0=-4.0, learning_rate=alpha, steps=20)
        print(f"alpha={alpha:<5} w: " + " ".join(f"{w:.3g}" for w in path[:6]) + f" ... {path[-1]:.6g}  f(w)={f(path[-1]):.6g}")


if __name__ == "__main__":
    main()
