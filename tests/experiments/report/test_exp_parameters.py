"""The parameters cell's comments are the rules that are checked (cca_core.experiments.report.parameters)."""

from __future__ import annotations

import operator

import numpy as np
import pytest

from cca_core.experiments.report.parameters import (ParameterError, ParameterSpecError, check_notebook_parameters,
                                                    check_parameters, coerce, parse_parameters, parse_rules)

CELL = '''# Data
dataset: str = "digits"         # a name in cca_core.experiments.KNOWN_DATASETS
depth: int = 4                  # conv layers (at least 1)
widths: list[int] = [4, 8]      # filters (at least 2 distinct, each > 0)
seeds: int = 3                  # networks per width, ≥ 2
learning_rate: float = 0.01     # positive
dropout: float = 0.0            # in [0, 1)
threshold: float = 0.9          # in (0, 1]
optimizer: str = "adam"         # "sgd", "momentum" (0.9) or "adam"
max_tokens: int = 40_000        # tokens (at least 100; 0: all of them)
k_values: list[int] = [1, 4]    # each in 0..depth
late: int = 20                  # (> early)
early: int = 0                  # before
points: int = 50                # at least 5 * depth
share: bool = False             # True: every rate starts from the same weights;
                                # False: each its own
layer: str = ""                 # "": the last layer
cache_dir: str = ""             # empty: the default
'''

SPEC = parse_parameters(CELL)


def test_types_defaults_and_continued_comments():
    assert list(SPEC)[:3] == ["dataset", "depth", "widths"]
    assert SPEC["widths"].kind == "list[int]" and SPEC["widths"].default == [4, 8]
    assert SPEC["max_tokens"].default == 40_000 and SPEC["max_tokens"].specials == (0,)
    assert SPEC["share"].comment.endswith("False: each its own")
    assert SPEC["layer"].specials == ("",) and SPEC["cache_dir"].specials == ("",)
    assert check_parameters({}, SPEC)["widths"] == [4, 8]


@pytest.mark.parametrize("name,value,words", [
    ("depth", 0, "depth = 0: must be >= 1"),
    ("depth", 2.5, "depth = 2.5: must be an integer"),
    ("depth", True, "depth = True: must be an integer"),
    ("widths", [4, 4], "needs at least 2 distinct values, has 1"),
    ("widths", [4, -8], "widths[1] = -8: must be > 0 (the parameters cell: '> 0')"),
    ("widths", "[4, 8", "widths = '[4, 8': must be a list of integers"),
    ("widths", [2, 4.5], "widths[1] = 4.5: must be an integer"),
    ("seeds", 1, "seeds = 1: must be >= 2"),
    ("learning_rate", 0.0, "must be > 0"),
    ("learning_rate", float("nan"), "must be a finite number"),
    ("dropout", 1.0, "must be < 1"),
    ("threshold", 0.0, "must be > 0"),
    ("optimizer", "rmsprop", "must be one of 'sgd', 'momentum', 'adam'"),
    ("dataset", "imagenet", "KNOWN_DATASETS"),
    ("max_tokens", 50, "must be >= 100"),
    ("k_values", [1, 5], "k_values[1] = 5: must be <= depth = 4"),
    ("late", 0, "must be > early = 0"),
    ("points", 19, "must be >= 5 * depth = 20"),
    ("share", "yes", "share = 'yes': must be True or False"),
])
def test_each_rule_rejects_in_one_line_with_the_cells_words(name, value, words):
    with pytest.raises(ParameterError) as err:
        check_parameters({name: value}, SPEC)
    message = str(err.value)
    assert "\n" not in message and message.startswith(name) and words in message


def test_special_values_and_coercion():
    out = check_parameters({"max_tokens": 0, "widths": "[2, 4]", "depth": 4.0, "learning_rate": 1}, SPEC)
    assert out["max_tokens"] == 0 and out["widths"] == [2, 4] and out["depth"] == 4 and type(out["depth"]) is int
    assert type(out["learning_rate"]) is float


def test_every_problem_is_reported_at_once():
    with pytest.raises(ParameterError) as err:
        check_parameters({"depth": 0, "optimizer": "x"}, SPEC)
    assert "depth" in str(err.value) and "optimizer" in str(err.value)


@pytest.mark.parametrize("words,op", [("at least", operator.ge), ("≥", operator.ge), (">=", operator.ge),
                                      ("at most", operator.le), ("≤", operator.le), ("<=", operator.le),
                                      (">", operator.gt), ("<", operator.lt)])
def test_bounds_agree_with_the_comparison_they_name(words, op):
    spec = parse_parameters(f"x: float = 0.5  # a value ({words} 0.25)\n")
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(-1, 1, 200), [0.25]])
    for v in values:
        accepted = True
        try:
            check_parameters({"x": float(v)}, spec)
        except ParameterError:
            accepted = False
        assert accepted == bool(op(v, 0.25)), (words, v)


@pytest.mark.parametrize("left,right,lo_op,hi_op", [("(", ")", operator.gt, operator.lt),
                                                    ("[", ")", operator.ge, operator.lt),
                                                    ("(", "]", operator.gt, operator.le),
                                                    ("[", "]", operator.ge, operator.le)])
def test_intervals_agree_with_their_brackets(left, right, lo_op, hi_op):
    spec = parse_parameters(f"x: float = 0.5  # in {left}0, 1{right}\n")
    for v in [-0.5, 0.0, 1e-9, 0.5, 1 - 1e-9, 1.0, 1.5]:
        try:
            check_parameters({"x": v}, spec)
            accepted = True
        except ParameterError:
            accepted = False
        assert accepted == (lo_op(v, 0) and hi_op(v, 1)), (left, right, v)


def test_prose_is_not_a_rule():
    rules, specials = parse_rules('layer compared; "": relu_<depth>, the final conv output (paper: 200), '
                                  "network i: seed + i, 2 or more for intervals")
    assert rules == () and specials == ("",)


def test_a_rule_naming_no_parameter_is_an_error_in_the_template():
    with pytest.raises(ParameterSpecError, match="names this"):
        parse_parameters("n: int = 3  # at most this many images\n")
    with pytest.raises(ParameterSpecError, match="not `name: type = value`"):
        parse_parameters("n = 3\n")
    with pytest.raises(ParameterSpecError, match="no importable collection"):
        check_parameters({}, parse_parameters('d: str = "a"  # a name in cca_core.nothing.HERE\n'))


def test_inside_a_kernel_the_last_parameters_cell_and_namespace_are_used():
    namespace = {"depth": "4", "widths": [4, 8]}
    out = check_notebook_parameters(namespace, source="depth: int = 4  # at least 1\nwidths: list[int] = [4]  # each > 0\n")
    assert namespace["depth"] == 4 and out == {"depth": 4, "widths": [4, 8]}
    with pytest.raises(ParameterError, match="depth = 0"):
        check_notebook_parameters({"depth": 0, "widths": [1]},
                                  source="depth: int = 4  # at least 1\nwidths: list[int] = [4]  # each > 0\n")


def test_outside_a_kernel_without_source_says_what_to_do():
    with pytest.raises(ParameterSpecError, match="inside a notebook"):
        check_notebook_parameters({})


def test_bounds_are_prose_in_a_text_parameters_comment():
    spec = parse_parameters('layer: str = ""  # the i-th layer, i in 1..depth, at least 2 characters\ndepth: int = 3  # at least 1\n'
                            'names: list[str] = ["a"]  # at least 1 distinct\n')
    assert spec["layer"].rules == () and [r.kind for r in spec["names"].rules] == ["distinct"]
    assert check_parameters({"layer": "x"}, spec)["layer"] == "x"


def test_without_history_the_compilers_cache_of_cells_is_read(monkeypatch):
    """nbval executes cells without history (``In`` stays empty); IPython's compiler still caches each
    cell's text in linecache: the last typed cell there is the parameters cell, even with papermill's
    injected (untyped) cell after it."""
    import linecache
    from types import SimpleNamespace

    import IPython

    cells = {"<cell-1>": "depth: int = 4  # at least 1\n", "<cell-2>": "# Parameters\ndepth = 0\n"}
    for name, text in cells.items():
        monkeypatch.setitem(linecache.cache, name, (len(text), None, text.splitlines(True), name))
    shell = SimpleNamespace(user_ns={"In": [""], "depth": 0}, compile=SimpleNamespace(_filename_map={n: 0 for n in cells}))
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    with pytest.raises(ParameterError, match="depth = 0: must be >= 1"):
        check_notebook_parameters()
    shell.compile._filename_map = {"<cell-2>": 0}
    with pytest.raises(ParameterSpecError, match="no parameters cell"):
        check_notebook_parameters()


def test_indexed_names_and_finite_numbers():
    spec = parse_parameters('depth: int = 4  # at least 1\nlayer: str = ""  # conv_i, bn_i or relu_i with i in 1..depth; "": the last\n'
                            'pair: list[str] = ["relu_1"]  # conv_i or relu_i with i in 1..depth\nrate: float = 0.1  # > 0\n')
    for ok in ("", "relu_1", "bn_4", "conv_2"):
        assert check_parameters({"layer": ok}, spec)["layer"] == ok
    for bad in ("relu_0", "relu_5", "relu 3", "pool_1", "relu_1x"):
        with pytest.raises(ParameterError, match=r"must be one of conv_i, bn_i, relu_i with i in 1\.\.4"):
            check_parameters({"layer": bad}, spec)
    with pytest.raises(ParameterError, match=r"pair\[1\] = 'bn_1': must be one of conv_i, relu_i with i in 1\.\.4"):
        check_parameters({"pair": ["relu_1", "bn_1"]}, spec)
    assert check_parameters({"depth": 6, "layer": "relu_6"}, spec)["layer"] == "relu_6"  # the bound follows depth
    for v in (float("inf"), float("-inf"), float("nan")):
        with pytest.raises(ParameterError, match="must be a finite number"):
            check_parameters({"rate": v}, spec)


# ----------------------------------------------------------------------------------------------------
# the one coercion, against the table in the module's text

_BAD = object()

#: (annotation, value given, what the module's table says: the value it gives, or _BAD)
COERCIONS = [
    ("int", 3, 3), ("int", 3.0, 3), ("int", -2.0, -2), ("int", 2.5, _BAD), ("int", True, _BAD),
    ("int", "3", 3), ("int", "3.0", 3), ("int", "a", _BAD), ("int", float("inf"), _BAD), ("int", None, _BAD),
    ("int", np.int64(7), 7),
    ("float", 2, 2.0), ("float", 0.5, 0.5), ("float", "1e-3", 0.001), ("float", True, _BAD),
    ("float", float("nan"), _BAD), ("float", float("inf"), _BAD), ("float", "abc", _BAD), ("float", [1.0], _BAD),
    ("bool", True, True), ("bool", False, False), ("bool", 0, _BAD), ("bool", 1, _BAD), ("bool", "yes", _BAD),
    ("bool", "True", True),
    ("str", "12", "12"), ("str", "a b", "a b"), ("str", 12, _BAD), ("str", 1.5, _BAD), ("str", ["a"], _BAD),
    ("list[int]", [1, 2], [1, 2]), ("list[int]", (1, 2), [1, 2]), ("list[int]", [1, 2.0], [1, 2]),
    ("list[int]", [2, 4.5], _BAD), ("list[int]", 3, _BAD), ("list[int]", "[2, 4]", [2, 4]),
    ("list[int]", "[2, 4", _BAD), ("list[int]", [], []),
    ("tuple[int, ...]", (1, 2), [1, 2]), ("Sequence[int]", [1], [1]), ("List[int]", [1], [1]),
    ("list[float]", [1, 0.5], [1.0, 0.5]), ("list[float]", [1, float("nan")], _BAD),
    ("list[str]", ["a", "b"], ["a", "b"]), ("list[str]", ["a", 1], _BAD), ("list[bool]", [True, 0], _BAD),
    ("dict", {"a": 1}, {"a": 1}), ("Any", "x", "x"),
]


@pytest.mark.parametrize(("kind", "value", "expected"), COERCIONS,
                         ids=[f"{k}-{v!r}" for k, v, _ in COERCIONS])
def test_one_coercion_follows_the_documented_table(kind, value, expected):
    if expected is _BAD:
        with pytest.raises(ParameterError) as err:
            coerce("x", value, kind)
        assert "\n" not in str(err.value) and str(err.value).startswith("x")
        return
    out = coerce("x", value, kind)
    assert out == expected and type(out) is type(expected)
    if isinstance(out, list):
        assert [type(v) for v in out] == [type(v) for v in expected]


def test_check_parameters_coerces_as_coerce_does():
    """check_parameters is coerce applied to each parameter: the same answer for every row of the table."""
    for kind, value, expected in COERCIONS:
        spec = parse_parameters(f"x: {kind} = None\n")
        if expected is _BAD:
            with pytest.raises(ParameterError):
                check_parameters({"x": value}, spec)
        else:
            assert check_parameters({"x": value}, spec)["x"] == expected


@pytest.mark.parametrize(("kind", "value", "says"), [
    ("list[int]", [2, 4.5], "x[1] = 4.5: must be an integer"),
    ("list[int]", [1, 2, 3, "a"], "x[3] = 'a': must be an integer"),
    ("list[float]", [0.5, float("inf")], "x[1] = inf: must be a finite number"),
    ("list[str]", ["a", 7], "x[1] = 7: must be text"),
    ("list[int]", 3, "x = 3: must be a list of integers"),
    ("int", 2.5, "x = 2.5: must be an integer"),
])
def test_a_type_error_names_the_bad_item_and_its_position(kind, value, says):
    with pytest.raises(ParameterError) as err:
        coerce("x", value, kind)
    assert str(err.value) == says


def test_an_unknown_name_gets_the_closest_declared_name():
    spec = parse_parameters("epochs: int = 3  # at least 1\nwidths: list[int] = [2]  # each > 0\n")
    with pytest.raises(ParameterError) as err:
        check_parameters({"epoch": 3}, spec)
    assert str(err.value) == "epoch: no such parameter; did you mean 'epochs'?"
    with pytest.raises(ParameterError) as err:
        check_parameters({"widht": [2], "zzz": 1, "epochs": 0}, spec)
    message = str(err.value)
    assert "\n" not in message and "widht: no such parameter; did you mean 'widths'?" in message
    assert "zzz: no such parameter; the parameters cell declares epochs, widths" in message
    assert "epochs" not in message.split("; ")[0]  # the rules are checked once the names are right


def test_every_rule_names_the_bad_item_of_a_list():
    spec = parse_parameters('xs: list[int] = [1]  # each in 1..3\nnames: list[str] = ["a"]  # "a" or "b"\n')
    with pytest.raises(ParameterError, match=r"^xs\[2\] = 4: must be <= 3 \(the parameters cell: 'in 1\.\.3'\)$"):
        check_parameters({"xs": [1, 3, 4]}, spec)
    with pytest.raises(ParameterError, match=r"^names\[1\] = 'c': must be one of 'a', 'b'"):
        check_parameters({"names": ["b", "c"]}, spec)
    assert check_parameters({"names": ["b", "a"]}, spec)["names"] == ["b", "a"]


def test_a_bound_with_unless_does_not_apply_while_that_parameter_has_that_value():
    spec = parse_parameters("epochs: int = 10    # at least 1\n"
                            "lr_decay: float = 0.5  # in (0, 1]\n"
                            "decay_after: int = 4   # (non-negative, < epochs unless lr_decay is 1, where it does nothing)\n")
    assert spec["decay_after"].rules[-1].unless == ("lr_decay", "1")
    for epochs, decay, after, ok in [(10, 0.5, 4, True), (3, 0.5, 4, False), (3, 1.0, 4, True), (3, 1, 4, True),
                                     (4, 0.5, 4, False), (4, 0.99, 50, False), (20, 1.0, 50, True)]:
        values = {"epochs": epochs, "lr_decay": decay, "decay_after": after}
        if ok:
            check_parameters(values, spec)
        else:
            with pytest.raises(ParameterError, match=rf"decay_after = {after}: must be < epochs = {epochs} unless lr_decay is 1"):
                check_parameters(values, spec)
    with pytest.raises(ParameterError, match="decay_after = -1: must be >= 0"):  # the other rule still holds
        check_parameters({"epochs": 5, "lr_decay": 1.0, "decay_after": -1}, spec)
    with pytest.raises(ParameterSpecError, match="lr_rate"):
        parse_parameters("epochs: int = 10  # at least 1\nafter: int = 4  # (< epochs unless lr_rate is 1)\n")
    for comment in ("< epochs unless lr_decay is 1e0", "< epochs unless lr_decay is 1.5x", "in (0, 1] unless epochs is 1",
                    "positive unless epochs is 1", "unless epochs is 2"):
        with pytest.raises(ParameterSpecError, match="'unless' in"):  # never a rule that silently always applies
            parse_parameters(f"epochs: int = 10  # at least 1\nafter: int = 4  # ({comment})\n")


def test_an_unknown_name_gets_every_close_suggestion():
    spec = parse_parameters("decay_after: int = 0  # non-negative\nlr_group_decay_after: int = 0  # non-negative\n"
                            "epochs: int = 3  # at least 1\n")
    with pytest.raises(ParameterError, match=r"lr_decay_after: no such parameter; did you mean 'decay_after' or "
                                             r"'lr_group_decay_after'\?"):
        check_parameters({"lr_decay_after": 2}, spec)
    with pytest.raises(ParameterError, match=r"epoch: no such parameter; did you mean 'epochs'\?$"):
        check_parameters({"epoch": 2}, spec)
