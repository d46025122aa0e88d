"""SOQL subset: lexer, parser, binding against the schema, evaluation (all pure)."""

from salesforce_sandbox.soql.binder import bind
from salesforce_sandbox.soql.engine import QueryResult, RecordSource, execute
from salesforce_sandbox.soql.parser import parse

__all__ = ["QueryResult", "RecordSource", "bind", "execute", "parse"]
