"""Did a network stop learning? The book's convergence criterion, read off its learning curve.

Every network in the book trains for a fixed number of epochs (its cap) and records its validation
loss after every epoch (the CNNs on their test split, the language models on the validation split).
A network *converged* when its validation loss stopped improving: the best loss of its last
``window`` epochs is less than ``tolerance`` (relative) below the best loss before them
(:func:`stopped_improving`; the book uses 1% over 2 epochs, issue 19). A loss that rose again
(overfitting) has stopped improving too. A network trained on permuted labels is asked to memorize
them instead: it converged when it fits its training labels (:func:`fits_labels`, training accuracy
at least :data:`~cca_core.experiments.verdicts.rules.FIT_THRESHOLD`-like thresholds; Zhang et al.
2017, "Understanding deep learning requires rethinking generalization": ~100%).

The test is a statement about the curve the page shows, not a stopping rule: the networks are
trained to their cap whatever it says, so that every network of a sweep has the same checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["STOP_TOLERANCE", "STOP_WINDOW", "Convergence", "convergence_of", "fits_labels", "stopped_improving"]

#: Epochs at the end of the curve that must not improve on the best loss before them.
STOP_WINDOW: int = 2
#: Relative improvement of the validation loss below which it has "stopped improving" (1%).
STOP_TOLERANCE: float = 0.01


@dataclass(frozen=True)
class Convergence:
    """Whether one network met the convergence criterion, and why in a few words.

    Attributes
    ----------
    met : bool
    criterion : str
        ``"validation loss stopped improving"`` or ``"fits its training labels"``.
    detail : str
        The numbers behind ``met``, e.g. ``"best 0.0681 at epoch 12 of 60; the last 2 epochs improved
        on it by 0.0%"``.
    epochs : int
        Epochs trained.
    """

    met: bool
    criterion: str
    detail: str
    epochs: int


def _check_window(window: int, tolerance: float) -> None:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise TypeError(f"window must be an integer number of epochs, got {window!r}")
    if window < 1:
        raise ValueError(f"window must be at least 1 epoch, got {window}")
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a finite relative change >= 0, got {tolerance!r}")


def stopped_improving(losses: Sequence[float], window: int = STOP_WINDOW,
                      tolerance: float = STOP_TOLERANCE, first_epoch: int = 1) -> Convergence:
    """Whether a validation-loss curve stopped improving by its last epoch.

    Parameters
    ----------
    losses : sequence of float, length n
        Validation loss after each epoch, in order (``losses[i]`` after epoch ``first_epoch + i``).
    window : int >= 1
        Epochs at the end of the curve that are compared with the best loss before them.
    tolerance : float >= 0
        Relative improvement below which the curve counts as flat: met when
        ``(best_before - best_last) / |best_before| < tolerance``.
    first_epoch : int
        Epoch of ``losses[0]`` (0 when the curve starts at initialization, as the language models' do).

    Returns
    -------
    Convergence
        Not met when the curve has no more than ``window`` points (too short to judge) or holds a
        non-finite loss.

    Raises
    ------
    TypeError, ValueError
        ``window`` not an integer >= 1, ``tolerance`` negative or not finite.
    """
    _check_window(window, tolerance)
    x = np.asarray(losses, dtype=float).ravel()
    last_epoch = first_epoch + len(x) - 1
    criterion = "validation loss stopped improving"
    if len(x) <= window:
        points = "1 epoch" if len(x) == 1 else f"{len(x)} epochs"
        return Convergence(False, criterion, f"{points} of validation loss: too few to compare the "
                           f"last {window} with those before", max(last_epoch, 0))
    if not np.all(np.isfinite(x)):
        return Convergence(False, criterion, "the validation loss is not finite", last_epoch)
    before, last = x[:-window], x[-window:]
    best_before, best_last = float(before.min()), float(last.min())
    gain = (best_before - best_last) / abs(best_before) if best_before != 0 else (0.0 if best_last >= 0 else np.inf)
    best = int(np.argmin(x)) + first_epoch
    words = "epoch" if window == 1 else f"{window} epochs"
    detail = (f"best {x.min():.4g} at epoch {best} of {last_epoch}; the last {words} improved on the best "
              f"before by {100 * max(gain, 0.0):.1f}%")
    return Convergence(bool(gain < tolerance), criterion, detail, last_epoch)


def fits_labels(train_accuracy: float, threshold: float, epochs: int) -> Convergence:
    """Whether a network trained on permuted labels memorized them: ``train_accuracy >= threshold``.

    Raises ``ValueError`` when ``threshold`` is not in (0, 1]."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be an accuracy in (0, 1], got {threshold!r}")
    met = bool(train_accuracy >= threshold)
    return Convergence(met, "fits its training labels",
                       f"training accuracy {100 * train_accuracy:.1f}% ({'at least' if met else 'below'} "
                       f"{100 * threshold:.0f}%)", int(epochs))


def convergence_of(result: Any, fit_threshold: float = 0.99, window: int = STOP_WINDOW,
                   tolerance: float = STOP_TOLERANCE) -> Convergence:
    """The criterion for one trained network: :func:`fits_labels` for a CNN trained on permuted labels
    (``config.labels == "random"``), otherwise :func:`stopped_improving` on its validation loss
    (a CNN's ``history["val_loss"]`` from epoch 1, a language model's ``history["valid_loss"]`` from
    epoch 0).

    Raises ``ValueError`` for a result without a validation-loss history (networks cached before the
    learning curves were recorded)."""
    history = result.history
    if getattr(result.config, "labels", "true") == "random":
        return fits_labels(result.train_accuracy, fit_threshold, result.config.epochs)
    if "valid_loss" in history:
        return stopped_improving(history["valid_loss"], window, tolerance, first_epoch=0)
    if "val_loss" in history:
        return stopped_improving(history["val_loss"], window, tolerance, first_epoch=1)
    raise ValueError(f"{result.config.short()}: no validation loss was recorded per epoch; retrain it")
