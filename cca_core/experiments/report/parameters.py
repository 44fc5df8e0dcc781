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
  ``positive``, ``non-negative``; an interval ``in (a, b)``, ``in [a, b)``, ``in (a, b]``,
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
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import math
import operator
import re
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Parameter", "ParameterError", "ParameterSpecError", "Rule", "parse_parameters",
           "template_parameters", "check_parameters", "check_notebook_parameters", "PARAMETERS_TAG"]

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
_WORDS = {"and", "or", "not", "in", "is", "the", "of", "a", "an", "each", "for", "to", "at", "least", "most"}


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

    def names(self) -> set[str]:
        """Parameter names the rule depends on."""
        if self.kind == "pattern":
            return set().union(*(_names(e) for e in self.expr.split("..")))
        return _names(self.expr) if self.kind in ("bound", "distinct") else set()

    def broken_by(self, value: Any, values: Mapping[str, Any]) -> str | None:
        """Why ``value`` breaks the rule (a phrase), or ``None``."""
        if self.kind == "choice":
            return None if value in self.options else f"must be one of {', '.join(map(repr, self.options))}"
        if self.kind == "pattern":
            lo, hi = (_evaluate(e, values) for e in self.expr.split(".."))
            names = "|".join(map(re.escape, self.options))
            for item in (value if isinstance(value, (list, tuple)) else [value]):
                match = re.fullmatch(rf"({names})_(\d+)", str(item))
                if not (match and lo <= int(match.group(2)) <= hi):
                    stems = ", ".join(f"{o}_i" for o in self.options)
                    where = f"{item!r} is not" if isinstance(value, (list, tuple)) else "must be"
                    return f"{where} one of {stems} with i in {lo}..{hi}"
            return None
        if self.kind == "member":
            known = _import_collection(self.expr)
            return None if value in known else f"must be one of {', '.join(map(repr, known))} ({self.expr})"
        if self.kind == "distinct":
            least = _evaluate(self.expr, values)
            n = len(set(value))
            return None if n >= least else f"needs at least {least} distinct values, has {n}"
        bound = _evaluate(self.expr, values)
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        compare = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}[self.op]
        bad = [v for v in items if _isnan(v) or not compare(v, bound)]
        if not bad:
            return None
        literal = re.fullmatch(r"[\d_.eE+-]+", self.expr) is not None
        limit = f"{self.op} {self.expr}" + ("" if literal else f" = {bound!r}")
        return f"{bad[0]!r} is not {limit}" if isinstance(value, (list, tuple)) else f"must be {limit}"


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
_BOUND = re.compile(rf"(?:\b(at least|at most)\s+|(?:(?<=[\s(;,])|^)(≥|≤|>=|<=|>|<)\s*)({_EXPR})")
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
    take(_BOUND, lambda m: [Rule("bound", m.group(0).strip(), op=_OPS[m.group(1) or m.group(2)], expr=m.group(3))])
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


def _coerce(value: Any, kind: str) -> tuple[Any, str | None]:
    """``value`` as ``kind`` (papermill may pass text for a list), or the reason it is not one."""
    inner = re.fullmatch(r"(?:list|tuple|Sequence)\[(\w+)(?:, \.\.\.)?\]", kind)
    if isinstance(value, str) and kind not in ("str", "Any", ""):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            return value, f"must be {_expected(kind)}, got the text {value!r}"
    if inner:
        if not isinstance(value, (list, tuple)):
            return value, f"must be {_expected(kind)}, got {value!r}"
        out = []
        for v in value:
            c, why = _coerce(v, inner.group(1))
            if why:
                return value, f"must be {_expected(kind)}, got {value!r}"
            out.append(c)
        return out, None
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value), None
            return value, f"must be an integer, got {value!r}"
        return int(value), None
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value, f"must be a number, got {value!r}"
        return float(value), None
    if kind == "bool":
        return (value, None) if isinstance(value, bool) else (value, f"must be True or False, got {value!r}")
    if kind == "str":
        return (value, None) if isinstance(value, str) else (value, f"must be text, got {value!r}")
    return value, None


def _expected(kind: str) -> str:
    inner = re.fullmatch(r"(?:list|tuple|Sequence)\[(\w+)(?:, \.\.\.)?\]", kind)
    if inner:
        return f"a list of {_expected(inner.group(1)).split(' ', 1)[1]}s"
    return {"int": "an integer", "float": "a number", "bool": "True or False", "str": "text"}.get(kind, kind)


def check_parameters(values: Mapping[str, Any], spec: Mapping[str, Parameter]) -> dict[str, Any]:
    """Check ``values`` (every parameter of ``spec``; missing ones take their defaults) against the
    types and rules of ``spec``.

    Returns
    -------
    dict
        The values coerced to their declared types (``"[2, 4]"`` becomes ``[2, 4]`` for a
        ``list[int]``, an integral ``3.0`` becomes ``3``), in the cell's order.

    Raises
    ------
    ParameterError
        One line naming every parameter that breaks its type or a rule, with the rule's words.
    """
    coerced: dict[str, Any] = {}
    problems: list[str] = []
    for name, p in spec.items():
        value, why = _coerce(values.get(name, p.default), p.kind)
        coerced[name] = value
        if why:
            problems.append(f"{name} {why}")
        elif re.search(r"\bfloat\b", p.kind):
            items = value if isinstance(value, list) else [value]
            if not all(math.isfinite(v) for v in items):
                problems.append(f"{name} = {value!r}: must be a finite number")
    if problems:
        raise ParameterError("; ".join(problems))
    for name, p in spec.items():
        value = coerced[name]
        if not isinstance(value, (list, tuple, bool)) and value in p.specials:
            continue  # "0: all of them"
        for rule in p.rules:
            why = rule.broken_by(value, coerced)
            if why:
                problems.append(f"{name} = {value!r}: {why} (the parameters cell: {rule.text!r})")
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


def describe(spec: Mapping[str, Parameter], names: Sequence[str] | None = None) -> str:
    """``name (type): comment`` lines for ``names`` (default all), as a rerun's help shows them."""
    return "\n".join(f"{p.name} ({p.kind}, default {p.default!r}): {p.comment}"
                     for p in spec.values() if names is None or p.name in names)
