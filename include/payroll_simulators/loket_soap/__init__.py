"""Simulator of Loket.nl's legacy SOAP "Loket webservice" (test/demo only)."""

from payroll_simulators.loket_soap.app import DEFAULT_USERS, PATH, SimUser, create_app

__all__ = ["DEFAULT_USERS", "PATH", "SimUser", "create_app"]
