"""A subset of Salesforce's formula language, as validation rules use it (pure):
``compiler`` checks a formula against an object, ``evaluator`` runs it on a record."""

from salesforce_sandbox.formula.compiler import FUNCTIONS, Formula, compile_formula
from salesforce_sandbox.formula.evaluator import Env, evaluate
from salesforce_sandbox.formula.lexer import FormulaError

__all__ = ["FUNCTIONS", "Env", "Formula", "FormulaError", "compile_formula", "evaluate"]
