"""Loket SOAP contract-test fixtures (helpers live in loket_soap_support)."""

from loket_soap_support import sim  # noqa: F401  (pytest fixture)
