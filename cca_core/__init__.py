"""cca_core: representational similarity measures for neural networks.

Arrays are ``(n_datapoints, n_neurons)``. Every CCA-family measure and linear CKA is computed from
the joint moments of ``[X, Y]`` (:class:`Moments`), so one pass over the data suffices and data
larger than memory can be streamed. :func:`pairwise` compares many networks at once, each network
factored once. google/svcca users: ``cca_core.get_cca_similarity`` and
``cca_core.compute_pwcca`` (module :mod:`cca_core.compat`) keep google's layout and signatures.
"""

from .validation import ConditioningWarning, ForcedCorrelationWarning, RankWarning
from .canonical import CCAResult
from .compat import compute_pwcca, get_cca_similarity
from .conv import ConvActivations, conv_to_2d, resize_to
from .dft import DFTCCAResult, dft_cca
from .measures import (
    cca,
    debiased_linear_cka,
    debiased_linear_cka_distance,
    linear_cka,
    linear_cka_distance,
    mean_cca,
    mean_cca_distance,
    procrustes_distance,
    procrustes_similarity,
    pwcca,
    pwcca_distance,
    rbf_cka,
    rbf_cka_distance,
    shape_distance,
    shape_similarity,
    svcca,
    svcca_distance,
)
from .moments import Moments
from .pairs import PairwiseError, PairwiseResult, pairwise
from . import stats

__version__ = "0.1.0"

__all__ = [
    "CCAResult", "ConditioningWarning", "ConvActivations", "ForcedCorrelationWarning", "DFTCCAResult", "Moments", "PairwiseError", "PairwiseResult",
    "RankWarning", "cca", "compute_pwcca", "conv_to_2d", "debiased_linear_cka",
    "debiased_linear_cka_distance", "dft_cca", "get_cca_similarity", "linear_cka", "linear_cka_distance",
    "mean_cca", "mean_cca_distance", "pairwise", "pwcca", "pwcca_distance", "rbf_cka", "rbf_cka_distance",
    "resize_to", "stats", "svcca", "svcca_distance",
    "procrustes_distance", "procrustes_similarity", "shape_distance", "shape_similarity",
]
