"""Salesforce errors and their wire shapes, serialized here and nowhere else.

``SalesforceError`` carries the wire error code (``errorCode`` in REST bodies, ``statusCode`` in
sObject Collections results, ``CODE:message:fields --`` in Bulk API 2.0 result rows).
``OAuthError`` is the token endpoint's ``{"error", "error_description"}``; ``SoapFault`` the
SOAP login fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape


class SalesforceError(Exception):
    """An error with a Salesforce error code, an HTTP status and the fields it concerns."""

    def __init__(
        self, code: str, message: str, status: int = 400, fields: Sequence[str] = ()
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fields = list(fields)

    def rest_item(self) -> dict[str, Any]:
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}

    def rest_body(self) -> list[dict[str, Any]]:
        return [self.rest_item()]

    def record_error(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def record_errors(self) -> list[dict[str, Any]]:
        """``errors`` of an sObject Collections result."""
        return [self.record_error()]

    def bulk_text(self) -> str:
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


class SalesforceErrors(SalesforceError):
    """Several errors of one record at once (every validation rule that fails), in the
    order Salesforce reports them: REST bodies and Collections results list them all, Bulk
    result rows join them."""

    def __init__(self, errors: Sequence[SalesforceError]) -> None:
        first = errors[0]
        super().__init__(first.code, first.message, first.status, first.fields)
        self.errors = list(errors)

    def rest_body(self) -> list[dict[str, Any]]:
        return [e.rest_item() for e in self.errors]

    def record_errors(self) -> list[dict[str, Any]]:
        return [e.record_error() for e in self.errors]

    def bulk_text(self) -> str:
        return "".join(e.bulk_text() for e in self.errors)


def one_or_all(errors: Sequence[SalesforceError]) -> SalesforceError | None:
    """None, the one error, or all of them as one exception."""
    if not errors:
        return None
    return errors[0] if len(errors) == 1 else SalesforceErrors(errors)


class MultipleRecords(SalesforceError):
    """HTTP 300 of an upsert whose external id matches several records."""

    def __init__(self, urls: list[str], ids: list[str]) -> None:
        super().__init__(
            "MULTIPLE_CHOICES",
            f"More than one record found for external id field: {ids}",
            300,
        )
        self.urls = urls
        self.ids = ids

    def rest_body(self) -> list[Any]:
        return list(self.urls)

    def record_error(self) -> dict[str, Any]:
        return {
            "statusCode": "DUPLICATE_EXTERNAL_ID",
            "message": f"Duplicate external id specified: more than one record matched {self.ids}",
            "fields": self.fields,
        }


def not_found(message: str = "The requested resource does not exist") -> SalesforceError:
    return SalesforceError("NOT_FOUND", message, 404)


def entity_is_deleted(status: int = 404) -> SalesforceError:
    return SalesforceError("ENTITY_IS_DELETED", "entity is deleted", status)


def invalid_session() -> SalesforceError:
    return SalesforceError("INVALID_SESSION_ID", "Session expired or invalid", 401)


def request_limit_exceeded() -> SalesforceError:
    return SalesforceError("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", 403)


def malformed_query(message: str) -> SalesforceError:
    return SalesforceError("MALFORMED_QUERY", message)


def json_parser_error(message: str) -> SalesforceError:
    return SalesforceError("JSON_PARSER_ERROR", message)


PROCESSING_HALTED = (
    "The transaction was rolled back since another operation in the same transaction failed."
)
ROLLED_BACK = (
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header"
)


def processing_halted(message: str = PROCESSING_HALTED) -> SalesforceError:
    return SalesforceError("PROCESSING_HALTED", message)


def rolled_back() -> SalesforceError:
    return SalesforceError("ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK)


class OAuthError(Exception):
    """Error of the OAuth token endpoint."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class SoapFault(Exception):
    """A SOAP fault (login)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def xml(self) -> str:
        code, msg = escape(self.code), escape(self.message)
        return (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:sf="urn:fault.partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            f"<soapenv:Fault><faultcode>sf:{code}</faultcode>"
            f"<faultstring>{code}: {msg}</faultstring><detail>"
            '<sf:LoginFault xsi:type="sf:LoginFault">'
            f"<sf:exceptionCode>{code}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{msg}</sf:exceptionMessage>"
            "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        )
