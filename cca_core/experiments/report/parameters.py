"""A template's parameters, checked by the rules written in its ``parameters`` cell.

Every notebook template starts with one cell tagged ``parameters`` (papermill's convention) of typed
assignments, each with a comment that says what the value means and which values are allowed::

    depth: int = 4             # conv layers (at least 1)
    widths: list[int] = [4, 8]  # filters of conv_1 (at least 2 distinct, each > 0)
    optimizer: str = "adam"    # "sgd", "momentum" (0.9) or "adam"
    max_tokens: int = 40_000   # training tokens (at least 100; 0: all of them)

That text is the specification: :func:`parse_parameters` reads the types from the annotations and the
rules from the comments, and :func:`check_parameters` checks values against them, so the rule a
reader sees is the rule that is enforced. The same check runs inside the notebook (its first hidden
cell: :func:`check_notebook_parameters`) and in ``book/pipeline.py`` before a kernel starts.

Rules a comment can state (``X`` is a number, another parameter's name, or ``+ - * //`` of those):

- bounds: ``at least X``, ``at most X``, ``≥ X``, ``≤ X``, ``>= X``, ``<= X``, ``> X``, ``< X``,
  ``positive``, ``non-negative``; a bound by a comparison may end ``unless NAME is V`` (``V`` a
  number): it does not apply while the parameter ``NAME`` has the value ``V`` (``< epochs unless
  lr_decay is 1``); an interval ``in (a, b)``, ``in [a, b)``, ``in (a, b]``,
  ``in [a, b]``; an integer range ``in a..b`` (both ends included). For a list, every element.
- choices: two or more quoted strings joined by commas or "or" (``"sgd", "momentum" (0.9) or
  "adam"``); or ``a name in package.module.CONSTANT`` (an importable collection).
- names with an index: ``conv_i, bn_i or relu_i with i in 1..depth`` (``relu_3``).
- lists: ``at least N distinct`` (values; duplicates are allowed but count once).
- every ``float`` is finite (``nan`` and ``inf`` are refused).

Bounds apply to ``int`` and ``float`` parameters (and their lists) only: in a text parameter's comment,
"``i in 1..depth``" is prose.
- exceptions: ``V: meaning`` with ``V`` a number, ``""`` or the word ``empty`` (meaning ``""``)
  names a value that is allowed whatever the other rules say (``0: all of them``).

Anything else in a comment is prose. A rule that names something that is not a parameter is an
error in the template (:class:`ParameterSpecError`), found when the cell is parsed.

Types (:func:`coerce`, the one coercion: the notebook's own check and ``book/pipeline.py`` both use it):

- ``int``: an integer, or a float with an integral value (``3.0`` gives ``3``); not ``2.5``, not
  ``True``.
- ``float``: an integer or a float, finite (``2`` gives ``2.0``); not ``nan``, ``inf`` or ``True``.
- ``bool``: ``True`` or ``False``; not ``0``, ``1`` or ``"yes"``.
- ``str``: text; not ``12`` (a number is not text: quote it).
- ``list[T]``, ``tuple[T, ...]``, ``Sequence[T]``: a list or a tuple whose every item is a ``T`` as
  above; gives a list (``(1, 2)`` gives ``[1, 2]``); not ``3``, not ``[1, 2.5]`` for ``list[int]``.
- any other annotation: the value as given.

Text given for a parameter that is not text is read as a Python literal first (papermill's own ``-p``
passes text): ``"[2, 4]"`` is ``[2, 4]`` for a ``list[int]``, ``"3"`` is ``3`` for an ``int``. An error
names the bad item of a list and its position: ``widths[1] = 4.5: must be an integer``.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import io
import json
import math
import numbers
import operator
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Parameter", "ParameterError", "ParameterSpecError", "Rule", "parse_parameters",
           "template_parameters", "coerce", "check_parameters", "check_notebook_parameters", "PARAMETERS_TAG"]

#: papermill's tag of the parameters cell.
PARAMETERS_TAG = "parameters"


class ParameterError(ValueError):
    """Values that break the parameters cell's rules; the message is one line naming each parameter,
    its value and the rule from the cell's comment."""


class ParameterSpecError(ValueError):
    """The parameters cell itself is malformed (not typed assignments, or a rule that cannot be read)."""


# ----------------------------------------------------------------------------------------------------
# expressions inside rules: numbers, parameter names, + - * //

_TERM = r"(?:\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?|[A-Za-z_]\w*)"
_EXPR = rf"{_TERM}(?:\s*(?:\+|-|\*|//)\s*{_TERM})*"
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv}


def _names(expr: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)}


def _evaluate(expr: str, values: Mapping[str, Any]) -> Any:
    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.Name):
            return values[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        raise ParameterSpecError(f"cannot evaluate {expr!r} in a rule")

    return ev(ast.parse(expr, mode="eval"))


# ----------------------------------------------------------------------------------------------------
# rules


@dataclass(frozen=True)
class Rule:
    """One rule read from a comment: ``kind`` is ``"bound"`` (``op``, ``expr``), ``"choice"``
    (``options``), ``"member"`` (``expr``: the dotted name of a collection), ``"distinct"``
    (``expr``: the least number of distinct values) or ``"pattern"`` (``options``: name stems,
    ``expr``: ``"lo..hi"`` of their index). ``text``: the words it was read from."""

    kind: str
    text: str
    op: str = ""
    expr: str = ""
    options: tuple[str, ...] = ()
    unless: tuple[str, str] = ()  # (parameter, value) for which the rule does not apply

    def names(self) -> set[str]:
        """Parameter names the rule depends on."""
        if self.kind == "pattern":
            return set().union(*(_names(e) for e in self.expr.split("..")))
        unless = {self.unless[0]} if self.unless else set()
        return (_names(self.expr) if self.kind in ("bound", "distinct") else set()) | unless

    def broken_by(self, value: Any, values: Mapping[str, Any]) -> tuple[int | None, str] | None:
        """Where and why ``value`` breaks the rule, or ``None``: ``(index, phrase)``, ``index`` the
        position of the first item of a list that breaks it (``None``: the value as a whole)."""
        if self.unless and values.get(self.unless[0]) == ast.literal_eval(self.unless[1].replace("_", "")):
            return None
        if self.kind == "distinct":
            least = _evaluate(self.expr, values)
            n = len(set(value))
            return None if n >= least else (None, f"needs at least {least} distinct values, has {n}")
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                why = self._item_broken_by(item, values)
                if why:
                    return i, why
            return None
        why = self._item_broken_by(value, values)
        return (None, why) if why else None

    def _item_broken_by(self, item: Any, values: Mapping[str, Any]) -> str | None:
        if self.kind == "choice":
            return None if item in self.options else f"must be one of {', '.join(map(repr, self.options))}"
        if self.kind == "pattern":
            lo, hi = (_evaluate(e, values) for e in self.expr.split(".."))
            names = "|".join(map(re.escape, self.options))
            match = re.fullmatch(rf"({names})_(\d+)", str(item))
            if match and lo <= int(match.group(2)) <= hi:
                return None
            return f"must be one of {', '.join(f'{o}_i' for o in self.options)} with i in {lo}..{hi}"
        if self.kind == "member":
            known = _import_collection(self.expr)
            return None if item in known else f"must be one of {', '.join(map(repr, known))} ({self.expr})"
        bound = _evaluate(self.expr, values)
        compare = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}[self.op]
        if not _isnan(item) and compare(item, bound):
            return None
        literal = re.fullmatch(r"[\d_.eE+-]+", self.expr) is not None
        unless = f" unless {self.unless[0]} is {self.unless[1]}" if self.unless else ""
        return f"must be {self.op} {self.expr}" + ("" if literal else f" = {bound!r}") + unless


def _closest(name: str, known: list[str]) -> list[str]:
    """The known names most like ``name``: difflib's best match and any within 0.1 of its similarity
    (``lr_decay_after``: ``'decay_after' or 'lr_group_decay_after'``), at most three."""
    close = difflib.get_close_matches(name, known, n=3)
    if not close:
        return []
    best = difflib.SequenceMatcher(None, name, close[0]).ratio()
    return [c for c in close if difflib.SequenceMatcher(None, name, c).ratio() >= best - 0.1]


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _import_collection(dotted: str) -> tuple[Any, ...]:
    module, _, name = dotted.rpartition(".")
    try:
        return tuple(getattr(importlib.import_module(module), name))
    except (ImportError, AttributeError, TypeError) as exc:
        raise ParameterSpecError(f"the rule 'a name in {dotted}' names no importable collection ({exc})") from None


_OPS = {"≥": ">=", ">=": ">=", "at least": ">=", "≤": "<=", "<=": "<=", "at most": "<=", ">": ">", "<": "<"}
_SPECIAL = re.compile(r'(?:^|(?<=[\s(;,]))(-?\d[\d_]*(?:\.\d+)?|""|empty)\s*:')
_DISTINCT = re.compile(rf"(?:at least|≥|>=)\s*({_EXPR})\s+distinct\b")
_INTERVAL = re.compile(rf"\bin\s*([\[(])\s*({_EXPR})\s*,\s*({_EXPR})\s*([\])])")
_RANGE = re.compile(rf"\bin\s+({_EXPR})\s*\.\.\s*({_EXPR})")
_BOUND = re.compile(rf"(?:\b(at least|at most)\s+|(?:(?<=[\s(;,])|^)(≥|≤|>=|<=|>|<)\s*)({_EXPR})"
                    r"(?:\s+unless\s+([A-Za-z_]\w*)\s+is\s+(-?\d[\d_]*(?:\.\d+)?)(?![\w.]))?")
_QUOTED = r'"[^"\n]*"(?:\s*\([^)]*\))?'
_CHOICE = re.compile(rf"{_QUOTED}(?:\s*(?:,\s*or|,|or)\s*{_QUOTED})+")
_MEMBER = re.compile(r"\ba name in\s+([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+)")
_NAME_I = r"[A-Za-z][A-Za-z0-9]*_i"
_PATTERN = re.compile(rf"({_NAME_I}(?:\s*,\s*{_NAME_I})*(?:,?\s+or\s+{_NAME_I})?)\s+with\s+i\s+in\s+({_EXPR})\s*\.\.\s*({_EXPR})")


def parse_rules(comment: str) -> tuple[tuple[Rule, ...], tuple[Any, ...]]:
    """The rules and the exception values (``V: meaning``) a comment states; see the module's text."""
    rules: list[Rule] = []
    text = comment
    specials: list[Any] = []
    for m in _SPECIAL.finditer(text):
        lit = m.group(1)
        specials.append("" if lit in ('""', "empty") else ast.literal_eval(lit.replace("_", "")))

    def take(pattern: re.Pattern[str], make: Any) -> None:
        nonlocal text
        for m in list(pattern.finditer(text)):
            rules.extend(make(m))
        text = pattern.sub(" ", text)

    take(_MEMBER, lambda m: [Rule("member", m.group(0), expr=m.group(1))])
    take(_PATTERN, lambda m: [Rule("pattern", m.group(0), expr=f"{m.group(2)}..{m.group(3)}",
                                   options=tuple(n[:-2] for n in re.findall(_NAME_I, m.group(1))))])
    take(_CHOICE, lambda m: [Rule("choice", m.group(0), options=tuple(re.findall(r'"([^"\n]*)"', re.sub(r"\([^)]*\)", "", m.group(0)))))])
    take(_DISTINCT, lambda m: [Rule("distinct", m.group(0), expr=m.group(1))])
    take(_INTERVAL, lambda m: [Rule("bound", m.group(0), op=">=" if m.group(1) == "[" else ">", expr=m.group(2)),
                               Rule("bound", m.group(0), op="<=" if m.group(4) == "]" else "<", expr=m.group(3))])
    take(_RANGE, lambda m: [Rule("bound", m.group(0), op=">=", expr=m.group(1)),
                            Rule("bound", m.group(0), op="<=", expr=m.group(2))])
    take(re.compile(r"\bnon-negative\b"), lambda m: [Rule("bound", m.group(0), op=">=", expr="0")])
    take(re.compile(r"\bpositive\b"), lambda m: [Rule("bound", m.group(0), op=">", expr="0")])
    take(_BOUND, lambda m: [Rule("bound", m.group(0).strip(), op=_OPS[m.group(1) or m.group(2)], expr=m.group(3),
                                 unless=(m.group(4), m.group(5)) if m.group(4) else ())])
    if re.search(r"\bunless\b", text):
        raise ParameterSpecError(f"'unless' in {comment.strip()!r} follows no bound by a comparison, or its value "
                                 f"is not a number ('< epochs unless lr_decay is 1')")
    return tuple(rules), tuple(specials)


# ----------------------------------------------------------------------------------------------------
# the parameters cell


@dataclass(frozen=True)
class Parameter:
    """One typed assignment of a parameters cell.

    ``kind``: the annotation as written (``"int"``, ``"list[float]"``); ``comment``: the text after
    ``#`` (continued on following comment-only lines); ``rules`` and ``specials`` (exception values)
    as read from it by :func:`parse_rules`."""

    name: str
    kind: str
    default: Any
    comment: str
    rules: tuple[Rule, ...] = field(default=())
    specials: tuple[Any, ...] = field(default=())


def parse_parameters(source: str) -> dict[str, Parameter]:
    """The parameters declared by a parameters cell's ``source``, in order.

    Raises
    ------
    ParameterSpecError
        The cell holds something other than typed assignments of literals and comments, or a rule
        names something that is not a parameter of the cell.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterSpecError(f"the parameters cell is not Python: {exc.msg} (line {exc.lineno})") from None
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            # (a line of its own that is indented: continues the comment above; text)
            own_line = tok.line[:tok.start[1]].strip() == ""
            comments[tok.start[0]] = (own_line and tok.start[1] > 0, own_line, tok.string.lstrip("#").strip())
    params: dict[str, Parameter] = {}
    lines = source.splitlines()
    for node in tree.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None):
            raise ParameterSpecError(f"line {node.lineno} of the parameters cell is not `name: type = value`: "
                                     f"{lines[node.lineno - 1].strip()!r}")
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise ParameterSpecError(f"the default of {node.target.id} is not a literal") from None
        end = node.end_lineno or node.lineno
        text = [comments[end][2]] if end in comments and not comments[end][1] else []
        nxt = end + 1  # a comment continued on the following indented comment-only lines
        while text and nxt in comments and comments[nxt][0]:
            text.append(comments[nxt][2])
            nxt += 1
        comment = " ".join(text)
        rules, specials = parse_rules(comment)
        kind = ast.unparse(node.annotation)
        if not re.search(r"\b(int|float)\b", kind):  # "relu_i with i in 1..depth" is prose for a str
            rules = tuple(r for r in rules if r.kind not in ("bound", "distinct") or kind.startswith(("list", "tuple"))
                          and r.kind == "distinct")
        params[node.target.id] = Parameter(node.target.id, kind, default, comment, rules, specials)
    for p in params.values():
        for rule in p.rules:
            unknown = {n for n in rule.names() if n not in params}
            if unknown:
                raise ParameterSpecError(f"the rule {rule.text!r} of {p.name} names {', '.join(sorted(unknown))}, "
                                         f"which is not a parameter")
    return params


def template_parameters(path: str | Path) -> dict[str, Parameter]:
    """:func:`parse_parameters` of the cell tagged ``parameters`` in the notebook at ``path``."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            return parse_parameters(source)
    raise ParameterSpecError(f"{path}: no cell tagged {PARAMETERS_TAG!r}")


# ----------------------------------------------------------------------------------------------------
# checking values


_SEQUENCE = re.compile(r"(?:list|List|tuple|Tuple|Sequence)\[(\w+)(?:, \.\.\.)?\]")
_EXPECTED = {"int": "an integer", "float": "a number", "bool": "True or False", "str": "text"}


def _expected(kind: str) -> str:
    inner = _SEQUENCE.fullmatch(kind)
    if inner:
        items = {"int": "integers", "float": "numbers", "bool": "True or False values", "str": "texts"}
        return f"a list of {items.get(inner.group(1), inner.group(1))}"
    return _EXPECTED.get(kind, kind)


def coerce(name: str, value: Any, kind: str) -> Any:
    """``value`` as the parameters cell's type ``kind`` (the annotation as written: ``"int"``,
    ``"list[float]"``), by the table in the module's text.

    Returns
    -------
    The value as that type: an ``int``, a ``float``, a ``bool``, a ``str`` or a ``list`` of them;
    under any other annotation, ``value`` itself.

    Raises
    ------
    ParameterError
        One line naming the parameter ``name``, or the bad item of a list and its position, with the
        value and the type it must have: ``"depth = 2.5: must be an integer"``,
        ``"widths[1] = 4.5: must be an integer"``, ``"rate = nan: must be a finite number"``.
    """
    inner = _SEQUENCE.fullmatch(kind)
    if isinstance(value, str) and (inner or kind in _EXPECTED and kind != "str"):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise ParameterError(f"{name} = {value!r}: must be {_expected(kind)}") from None
    if inner:
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f"{name} = {value!r}: must be {_expected(kind)}")
        return [_coerce_one(f"{name}[{i}]", v, inner.group(1)) for i, v in enumerate(value)]
    return _coerce_one(name, value, kind)


def _coerce_one(label: str, value: Any, kind: str) -> Any:
    if kind == "int":
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind == "float":
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ParameterError(f"{label} = {value!r}: must be a finite number")
            return float(value)
    elif kind == "bool":
        if isinstance(value, bool):
            return value
    elif kind == "str":
        if isinstance(value, str):
            return value
    else:
        return value
    raise ParameterError(f"{label} = {value!r}: must be {_EXPECTED[kind]}")


def check_parameters(values: Mapping[str, Any], spec: Mapping[str, Parameter]) -> dict[str, Any]:
    """Check ``values`` (parameters by name; missing ones take their defaults) against the names,
    types (:func:`coerce`) and rules of ``spec``.

    Returns
    -------
    dict
        Every parameter of ``spec``, in the cell's order, as its declared type (``"[2, 4]"`` becomes
        ``[2, 4]`` for a ``list[int]``, an integral ``3.0`` becomes ``3``).

    Raises
    ------
    ParameterError
        One line naming every problem: a name the cell does not declare (with the closest declared
        name: ``epoch: no such parameter; did you mean 'epochs'?``), a value of the wrong type, a value
        that breaks a rule (with the rule's words); the bad item of a list is named with its position
        (``widths[1] = 4.5: must be an integer``).
    """
    problems: list[str] = []
    for name in values:
        if name not in spec:
            close = _closest(str(name), list(spec))
            problems.append(f"{name}: no such parameter; " + (f"did you mean {' or '.join(map(repr, close))}?" if close
                                                              else f"the parameters cell declares {', '.join(spec)}"))
    coerced: dict[str, Any] = {}
    for name, p in spec.items():
        value = values.get(name, p.default)
        try:
            coerced[name] = coerce(name, value, p.kind)
        except ParameterError as err:
            coerced[name] = value
            problems.append(str(err))
    if problems:
        raise ParameterError("; ".join(problems))
    for name, p in spec.items():
        value = coerced[name]
        if not isinstance(value, (list, tuple, bool)) and value in p.specials:
            continue  # "0: all of them"
        for rule in p.rules:
            broken = rule.broken_by(value, coerced)
            if broken:
                index, why = broken
                shown = f"{name} = {value!r}" if index is None else f"{name}[{index}] = {value[index]!r}"
                problems.append(f"{shown}: {why} (the parameters cell: {rule.text!r})")
                break
    if problems:
        raise ParameterError("; ".join(problems))
    return coerced


def _typed_cell(source: Any) -> bool:
    try:
        tree = ast.parse(source)
    except (SyntaxError, TypeError, ValueError):
        return False
    return bool(tree.body) and all(isinstance(n, ast.AnnAssign) for n in tree.body)


def _compiled_cells(shell: Any) -> list[str]:
    """Sources of the cells the kernel compiled, in the order first run: IPython caches each cell's
    text in :mod:`linecache` under the file name its compiler records (``compile._filename_map``),
    with or without history."""
    import linecache

    names = list(getattr(getattr(shell, "compile", None), "_filename_map", {}) or {})
    return ["".join(linecache.cache[n][2]) for n in names if n in linecache.cache and len(linecache.cache[n]) > 2]


def _parameters_cell_source() -> str:
    """The source of the last cell this IPython kernel ran that is made only of typed assignments
    (the parameters cell; papermill's injected cell has no annotations).

    Kernels that keep a history (Jupyter, papermill) list it in ``In``; nbval runs cells without
    history, and there the compiler's cache of cell sources is read."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - notebooks run in IPython
        get_ipython = None  # type: ignore[assignment]
    shell = get_ipython() if get_ipython is not None else None
    if shell is None:
        raise ParameterSpecError("check_notebook_parameters() runs inside a notebook; elsewhere pass source= "
                                 "or use template_parameters(path)")
    for source in reversed(list(shell.user_ns.get("In", []))):
        if _typed_cell(source):
            return source
    for source in reversed(_compiled_cells(shell)):
        if _typed_cell(source):
            return source
    raise ParameterSpecError("no parameters cell (typed assignments only) has run in this kernel; run it first")


def check_notebook_parameters(namespace: dict[str, Any] | None = None, *, source: str | None = None) -> dict[str, Any]:
    """Check a running notebook's parameters against its parameters cell; the first cell after it calls this.

    Parameters
    ----------
    namespace : dict, optional
        Where the parameters live and where the coerced values are written back; default the
        notebook's globals (IPython's user namespace).
    source : str, optional
        The parameters cell's text; default the last such cell the kernel ran.

    Returns
    -------
    dict
        The checked values (also written into ``namespace``).

    Raises
    ------
    ParameterError
        One line naming each bad value and the rule it breaks.
    """
    if source is None:
        source = _parameters_cell_source()
    if namespace is None:
        from IPython import get_ipython

        namespace = get_ipython().user_ns
    spec = parse_parameters(source)
    checked = check_parameters({k: namespace[k] for k in spec if k in namespace}, spec)
    namespace.update(checked)
    return checked
