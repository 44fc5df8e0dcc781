"""The measures and option sets that the engine tests run over (shared by test_pairs and test_wide_layers)."""

ALL_MEASURES = ["mean_cca", "svcca", "pwcca", "linear_cka", "debiased_linear_cka", "rbf_cka",
                "procrustes_similarity", "shape_similarity"]
CCA_FAMILY = ["mean_cca", "svcca", "pwcca"]
CKA_FAMILY = ["linear_cka", "debiased_linear_cka", "rbf_cka"]


def measure_cases(svcca_keep: int) -> list[tuple[str, dict]]:
    """Every measure with its defaults, plus squared mean CCA, SVCCA with a fraction and an integer
    ``keep``, and RBF CKA with a wider bandwidth."""
    return [
        ("mean_cca", {}),
        ("mean_cca", {"squared": True}),
        ("svcca", {}),
        ("svcca", {"keep": 0.9}),
        ("svcca", {"keep": svcca_keep}),
        ("pwcca", {}),
        ("linear_cka", {}),
        ("debiased_linear_cka", {}),
        ("rbf_cka", {}),
        ("rbf_cka", {"threshold": 1.0}),
        ("procrustes_similarity", {}),
        ("shape_similarity", {"alpha": 0.0}),
        ("shape_similarity", {"alpha": 0.5}),
    ]


def case_id(measure: str, kwargs: dict) -> str:
    return measure + "".join(f"-{k}={v}" for k, v in kwargs.items())
