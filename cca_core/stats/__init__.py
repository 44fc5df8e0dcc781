"""Uncertainty and chance for similarity values: the one home of every interval and test.

:mod:`~cca_core.stats.datapoints`
    One similarity value: :func:`bootstrap` (an interval from resampling datapoints, rows of X and Y
    together) and :func:`permutation_test` (a chance level and p-value from the null of unrelated
    representations with the same marginals: rows of Y shuffled against X), for a measure's name
    or any callable; :func:`permutation_null` (the null alone, any number of shuffles).
:mod:`~cca_core.stats.networks`
    Independently trained networks: :func:`percentile_interval` and :func:`t_interval`, resampling
    networks (:class:`NetworkDraws`, :func:`pair_means`, :func:`network_mean_interval`), a group's
    mean distance (:func:`group_mean_interval`) and the label permutation test
    (:func:`group_permutation_test`), with the smallest p-value the test can give beside the p-value.
:mod:`~cca_core.stats.results`
    One result type per kind: an interval (:class:`BootstrapResult`, :class:`GroupInterval`) or a
    permutation test (:class:`PermutationResult` and its two specializations).

Defaults: :data:`DATAPOINT_RESAMPLES` (1000) resamples or permutations of datapoints,
:data:`NETWORK_RESAMPLES` (9999) of networks; at least :data:`MIN_RESAMPLES` (99) where a p-value
or an interval's ends must be resolved. Settings are checked by :mod:`cca_core.validation`
(``TypeError`` for a wrong type, ``ValueError`` for a wrong value).
"""

from ..validation import MIN_RESAMPLES, check_distance_matrix
from .datapoints import (DATAPOINT_RESAMPLES, MOMENT_MEASURES, _PermutedMeasure, _ResampledMeasure,  # noqa: F401
                         bootstrap, permutation_null, permutation_test)
from .networks import (NETWORK_RESAMPLES, NetworkDraws, group_mean_interval, group_permutation_test,
                       label_permutation_test, network_mean_interval, pair_means, percentile_interval,
                       resample_counts, t_interval)
from .results import (BootstrapResult, ConfidenceInterval, GroupInterval, GroupPermutationResult, PermutationResult,
                      PermutationTestResult)

__all__ = [
    "MIN_RESAMPLES", "DATAPOINT_RESAMPLES", "NETWORK_RESAMPLES", "ConfidenceInterval", "BootstrapResult",
    "PermutationResult", "PermutationTestResult", "GroupInterval", "GroupPermutationResult", "bootstrap",
    "permutation_test", "permutation_null", "group_mean_interval", "group_permutation_test",
    "label_permutation_test", "check_distance_matrix", "percentile_interval", "t_interval", "resample_counts",
    "pair_means", "NetworkDraws", "network_mean_interval",
]
