"""The verdict rules of the book's chapters: evidence from the analysis in, judgements out.

A chapter's notebook does the analysis (trains, measures, builds distance matrices) and states its
rules in prose; the functions here turn the analysis into :class:`~.findings.Evidence` (intervals by
resampling networks for distances between networks; Student t over networks where each network is
compared only with itself, as in the RNN chapters; p-values with their minimum) and apply the rules
(:func:`~.findings.judge`), so that a rule is tested once rather than re-typed in a page. Each
``<chapter>`` function returns one :class:`~.findings.Judgement` per finding, in the order of the
chapter's findings; each ``<chapter>_evidence`` function computes what its rules need. Thresholds
are the chapter's, given as module constants.

One module per chapter holds its rules; this module gathers them, so that a notebook writes
``from cca_core.experiments import rules`` and ``rules.<name>``:

- :mod:`~.premises` -- premises and constants several chapters share (:data:`FIT_THRESHOLD`,
  :data:`ALPHA`, :func:`fit_premise`, :func:`convergence_premise`)
- :mod:`~.signal_noise`, :mod:`~.memorization`, :mod:`~.width`, :mod:`~.learning_rates`,
  :mod:`~.conv_layers`, :mod:`~.cnn_training`, :mod:`~.rnn_training`, :mod:`~.rnn_sequence`,
  :mod:`~.measure_checks` -- one chapter each
"""

from __future__ import annotations

from cca_core.experiments.evidence import MIN_NETWORKS, MIN_RNN_NETWORKS, NetworkMeans
from cca_core.experiments.verdicts.cnn_training import (BOTTOM_UP_FRACTION, LEARNED_ACCURACY, cnn_training,
                                                        cnn_training_evidence, learned_premise)
from cca_core.experiments.verdicts.conv_layers import _faster_test, conv_layers, conv_layers_evidence  # noqa: F401
from cca_core.experiments.verdicts.learning_rates import learning_rates, learning_rates_evidence
from cca_core.experiments.verdicts.measure_checks import (IDENTIFICATION_GAP, IDENTIFICATION_MOSTLY,
                                                          IDENTIFICATION_NEAR_PERFECT, measure_checks,
                                                          measure_checks_evidence)
from cca_core.experiments.verdicts.memorization import memorization, memorization_evidence, memorization_layers
from cca_core.experiments.verdicts.premises import (ALPHA, FIT_THRESHOLD, MIN_TRAINED_CHECKPOINTS, convergence_premise,
                                                    fit_premise)
from cca_core.experiments.verdicts.rnn_sequence import rnn_sequence, rnn_sequence_evidence
from cca_core.experiments.verdicts.rnn_training import (LEARNED_PERPLEXITY_FRACTION, epochs_to_show, perplexity_premise,
                                                        rnn_training, rnn_training_evidence)
from cca_core.experiments.verdicts.signal_noise import MARGIN, REFERENCE_50, signal_noise, signal_noise_evidence
from cca_core.experiments.verdicts.width import width, width_evidence


# Names this module carried before it was split (its rules imported them), kept for ``rules.<name>``.
from cca_core.experiments.evidence import Evidence, NetworkGroups, NetworkValues, mean_interval  # noqa: F401
from cca_core.experiments.verdicts.findings import (Check, Judgement, above, all_of, any_of, at_least,  # noqa: F401
                                                    at_least_fraction, at_most, below, enough, judge, premise,
                                                    significant, within)
from cca_core.stats import NETWORK_RESAMPLES, percentile_interval  # noqa: F401

__all__ = ["FIT_THRESHOLD", "ALPHA", "fit_premise", "memorization_layers", "memorization_evidence", "memorization",
           "width_evidence", "width", "learning_rates_evidence", "learning_rates",
           "NetworkMeans", "rnn_training_evidence", "rnn_training", "epochs_to_show", "signal_noise_evidence",
           "signal_noise", "rnn_sequence_evidence", "rnn_sequence", "LEARNED_ACCURACY", "learned_premise",
           "cnn_training_evidence", "cnn_training", "conv_layers_evidence", "conv_layers",
           "IDENTIFICATION_NEAR_PERFECT", "IDENTIFICATION_MOSTLY", "IDENTIFICATION_GAP", "measure_checks_evidence",
           "measure_checks",
           # public before the split but missing from the list
           "MIN_NETWORKS", "MIN_RNN_NETWORKS", "MIN_TRAINED_CHECKPOINTS", "LEARNED_PERPLEXITY_FRACTION",
           "perplexity_premise", "MARGIN", "REFERENCE_50", "BOTTOM_UP_FRACTION",
           # new
           "convergence_premise"]
