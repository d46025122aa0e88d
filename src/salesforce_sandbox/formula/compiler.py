"""Formula compilation (pure): every name resolved against the object, every operator and
function checked for its operand types, with Salesforce's problem texts.

Types are ``Text``, ``Number``, ``Boolean``, ``Date``, ``DateTime``, ``Picklist``,
``MultiPicklist`` and ``Null`` (the ``NULL`` literal, which fits anywhere). A picklist is
only accepted where Salesforce accepts one: ``ISPICKVAL``, ``TEXT``, ``ISBLANK``,
``ISNULL``, ``ISCHANGED``, ``PRIORVALUE`` and ``CASE``'s first argument.

Functions: AND, OR, NOT, IF, CASE, ISBLANK, ISNULL, BLANKVALUE, NULLVALUE, ISPICKVAL,
INCLUDES, LEN, REGEX, TEXT, VALUE, ISNUMBER, BEGINS, CONTAINS, LOWER, UPPER, TRIM, LEFT,
RIGHT, ABS, ISNEW, ISCHANGED, PRIORVALUE, TODAY, NOW. Parent fields are reached through
lookups (``Account.Name``, ``RecordType.DeveloperName``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from salesforce_sandbox.formula.lexer import FormulaError
from salesforce_sandbox.formula.parser import Binary, Call, Literal, Name, Node, Unary, parse

if TYPE_CHECKING:
    from salesforce_sandbox.schema.model import FieldDef, ObjectDef, Schema

_TYPES = {
    "double": "Number",
    "currency": "Number",
    "percent": "Number",
    "int": "Number",
    "boolean": "Boolean",
    "date": "Date",
    "datetime": "DateTime",
    "picklist": "Picklist",
    "multipicklist": "MultiPicklist",
}
PICKLISTS = frozenset({"Picklist", "MultiPicklist"})
_COMPARISONS = frozenset({"=", "==", "!=", "<>", "<", "<=", ">", ">="})
# functions with fixed argument types: name -> (argument types, result type)
_SIMPLE: dict[str, tuple[tuple[str, ...], str]] = {
    "NOT": (("Boolean",), "Boolean"),
    "ISNEW": ((), "Boolean"),
    "TODAY": ((), "Date"),
    "NOW": ((), "DateTime"),
    "LEN": (("Text",), "Number"),
    "REGEX": (("Text", "Text"), "Boolean"),
    "VALUE": (("Text",), "Number"),
    "ISNUMBER": (("Text",), "Boolean"),
    "BEGINS": (("Text", "Text"), "Boolean"),
    "CONTAINS": (("Text", "Text"), "Boolean"),
    "LOWER": (("Text",), "Text"),
    "UPPER": (("Text",), "Text"),
    "TRIM": (("Text",), "Text"),
    "LEFT": (("Text", "Number"), "Text"),
    "RIGHT": (("Text", "Number"), "Text"),
    "ABS": (("Number",), "Number"),
}
_ANY_ARITY = ("AND", "OR", "IF", "CASE", "ISBLANK", "ISNULL", "BLANKVALUE", "NULLVALUE")
_SPECIAL = frozenset({*_ANY_ARITY, "ISPICKVAL", "INCLUDES", "TEXT", "ISCHANGED", "PRIORVALUE"})
FUNCTIONS = frozenset(_SIMPLE) | _SPECIAL


@dataclass(frozen=True)
class FieldRef:
    """A resolved name: the lookups to follow (API names, from the record), then the field."""

    steps: tuple[str, ...]
    field: str
    type: str
    label: str


@dataclass
class Formula:
    """A compiled formula: its tree, the resolved names and the type of every node."""

    text: str
    tree: Node
    type: str
    refs: dict[str, FieldRef] = field(default_factory=dict)
    types: dict[Node, str] = field(default_factory=dict)


def formula_type(definition: FieldDef) -> str:
    return _TYPES.get(definition.type, "Text")


def compile_formula(
    text: str, obj: ObjectDef, schema: Schema | None = None, expect: str | None = "Boolean"
) -> Formula:
    """Compile ``text`` for records of ``obj`` (``schema`` resolves parent objects).

    ``expect`` ``"Boolean"``: a validation rule's condition, which must be true or false."""
    tree = parse(text)
    checker = _Checker(obj, schema)
    result = checker.check(tree, allow_picklist=False)
    if expect == "Boolean" and result not in ("Boolean", "Null"):
        raise FormulaError(
            f"Formula result is data type ({result}), incompatible with expected data type "
            "(true or false)."
        )
    return Formula(text, tree, result, checker.refs, checker.types)


def _picklist_error(name: str) -> FormulaError:
    return FormulaError(
        f"Field {name} is a picklist field. Picklist fields are only supported in certain "
        "functions."
    )


def _count_error(name: str, expected: str, received: int) -> FormulaError:
    return FormulaError(
        f"Incorrect number of parameters for function '{name}()'. Expected {expected}, "
        f"received {received}"
    )


def _type_error(name: str, expected: str, received: str, operator: bool = False) -> FormulaError:
    what = f"operator '{name}'" if operator else f"function '{name}()'"
    return FormulaError(
        f"Incorrect parameter type for {what}. Expected {expected}, received {received}"
    )


def _unify(a: str, b: str) -> str | None:
    if a == "Null":
        return b
    if b == "Null" or a == b:
        return a
    return None


class _Checker:
    def __init__(self, obj: ObjectDef, schema: Schema | None) -> None:
        self.obj = obj
        self.schema = schema
        self.refs: dict[str, FieldRef] = {}
        self.types: dict[Node, str] = {}

    def check(self, node: Node, allow_picklist: bool) -> str:
        result = self._check(node, allow_picklist)
        self.types[node] = result
        return result

    def _check(self, node: Node, allow_picklist: bool) -> str:
        if isinstance(node, Literal):
            return node.type
        if isinstance(node, Name):
            ref = self.resolve(node.path)
            if ref.type in PICKLISTS and not allow_picklist:
                raise _picklist_error(ref.field)
            return ref.type
        if isinstance(node, Unary):
            operand = self.check(node.operand, False)
            wanted = "Number" if node.op == "-" else "Boolean"
            if _unify(wanted, operand) is None:
                raise _type_error(node.op, wanted, operand, operator=True)
            return wanted
        if isinstance(node, Binary):
            return self.binary(node)
        return self.call(node, allow_picklist)

    # names ------------------------------------------------------------------------------------
    def resolve(self, path: str) -> FieldRef:
        found = self.refs.get(path)
        if found is not None:
            return found
        parts = path.split(".")
        obj = self.obj
        steps: list[str] = []
        for part in parts[:-1]:
            lookup = obj.by_relationship(part)
            target = None
            if lookup is not None and lookup.reference_to and self.schema is not None:
                target = self.schema.get(lookup.reference_to[0])
            if lookup is None or target is None:
                raise FormulaError(f"Field {part} does not exist. Check spelling.")
            steps.append(lookup.name)
            obj = target
        definition = obj.field(parts[-1]) if parts[-1] else None
        if definition is None:
            raise FormulaError(f"Field {parts[-1] or path} does not exist. Check spelling.")
        ref = FieldRef(tuple(steps), definition.name, formula_type(definition), definition.label)
        self.refs[path] = ref
        return ref

    # operators --------------------------------------------------------------------------------
    def binary(self, node: Binary) -> str:
        op = node.op
        left = self.check(node.left, False)
        right = self.check(node.right, False)
        if op in ("&&", "||"):
            for side in (left, right):
                if _unify("Boolean", side) is None:
                    raise _type_error(op, "Boolean", side, operator=True)
            return "Boolean"
        if op == "&":
            for side in (left, right):
                if _unify("Text", side) is None:
                    raise _type_error(op, "Text", side, operator=True)
            return "Text"
        if op in _COMPARISONS:
            same = _unify(left, right)
            if same is None or (same == "Boolean" and op not in ("=", "==", "!=", "<>")):
                raise _type_error(op, left if left != "Null" else right, right, operator=True)
            return "Boolean"
        return self.arithmetic(op, left, right)

    def arithmetic(self, op: str, left: str, right: str) -> str:
        pair = (left, right)
        if op in ("+", "-"):
            allowed = {
                ("Number", "Number"): "Number",
                ("Date", "Number"): "Date",
                ("DateTime", "Number"): "DateTime",
            }
            if op == "+":
                allowed[("Text", "Text")] = "Text"
                allowed[("Number", "Date")] = "Date"
                allowed[("Number", "DateTime")] = "DateTime"
            else:
                allowed[("Date", "Date")] = "Number"
                allowed[("DateTime", "DateTime")] = "Number"
            for (a, b), result in allowed.items():
                if _unify(a, left) is not None and _unify(b, right) is not None:
                    return result
            raise _type_error(op, "Number" if left in ("Null", "Number") else left, right, True)
        for side in pair:
            if _unify("Number", side) is None:
                raise _type_error(op, "Number", side, operator=True)
        return "Number"

    # functions --------------------------------------------------------------------------------
    def call(self, node: Call, allow_picklist: bool) -> str:
        name, args = node.name, node.args
        if name not in FUNCTIONS:
            raise FormulaError(f"Unknown function {name}. Check spelling.")
        simple = _SIMPLE.get(name)
        if simple is not None:
            wanted, result = simple
            self.arity(name, args, len(wanted))
            for arg, kind in zip(args, wanted, strict=True):
                self.expect(name, arg, kind)
            return result
        if name in ("AND", "OR"):
            if not args:
                raise _count_error(name, "at least 1", 0)
            for arg in args:
                self.expect(name, arg, "Boolean")
            return "Boolean"
        if name == "IF":
            self.arity(name, args, 3)
            self.expect(name, args[0], "Boolean")
            return self.same(name, args[1], args[2])
        if name in ("ISBLANK", "ISNULL"):
            self.arity(name, args, 1)
            self.check(args[0], True)
            return "Boolean"
        if name in ("BLANKVALUE", "NULLVALUE"):
            self.arity(name, args, 2)
            return self.same(name, args[0], args[1])
        if name == "ISPICKVAL":
            self.arity(name, args, 2)
            kind = self.check(args[0], True)
            if kind != "Picklist":
                raise _type_error(name, "Picklist", kind)
            self.expect(name, args[1], "Text")
            return "Boolean"
        if name == "INCLUDES":
            self.arity(name, args, 2)
            kind = self.check(args[0], True)
            if kind != "MultiPicklist":
                raise _type_error(name, "Multi-Select Picklist", kind)
            self.expect(name, args[1], "Text")
            return "Boolean"
        if name == "TEXT":
            self.arity(name, args, 1)
            kind = self.check(args[0], True)
            if kind in ("Boolean", "MultiPicklist"):
                raise _type_error(name, "Number, Date, Date/Time, Picklist", kind)
            return "Text"
        if name in ("ISCHANGED", "PRIORVALUE"):
            self.arity(name, args, 1)
            if not isinstance(args[0], Name):
                raise _type_error(name, "Field", self.check(args[0], True))
            kind = self.check(args[0], True)
            if name == "PRIORVALUE" and kind in PICKLISTS and not allow_picklist:
                raise _picklist_error(self.resolve(args[0].path).field)
            return "Boolean" if name == "ISCHANGED" else kind
        return self.case(node)

    def case(self, node: Call) -> str:
        args = node.args
        if len(args) < 4 or len(args) % 2:
            raise _count_error("CASE", "an even number of at least 4", len(args))
        subject = self.check(args[0], True)
        compared = "Text" if subject == "Picklist" else subject
        result = "Null"
        for i in range(1, len(args) - 1, 2):
            value = self.check(args[i], False)
            if _unify(compared, value) is None:
                raise _type_error("CASE", compared, value)
            found = _unify(result, self.check(args[i + 1], False))
            if found is None:
                raise _type_error("CASE", result, self.types[args[i + 1]])
            result = found
        last = _unify(result, self.check(args[-1], False))
        if last is None:
            raise _type_error("CASE", result, self.types[args[-1]])
        return last

    def arity(self, name: str, args: tuple[Node, ...], count: int) -> None:
        if len(args) != count:
            raise _count_error(name, str(count), len(args))

    def expect(self, name: str, arg: Node, kind: str) -> None:
        found = self.check(arg, False)
        if _unify(kind, found) is None:
            raise _type_error(name, kind, found)

    def same(self, name: str, a: Node, b: Node) -> str:
        first, second = self.check(a, False), self.check(b, False)
        found = _unify(first, second)
        if found is None:
            raise _type_error(name, first, second)
        return found
