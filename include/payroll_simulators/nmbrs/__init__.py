"""Nmbrs SOAP v3 simulator (CompanyService, EmployeeService) for tests and the demo."""

from payroll_simulators.nmbrs.app import DEMO_DOMAIN, DEMO_TOKEN, DEMO_USERNAME, SimUser, create_app

__all__ = ["DEMO_DOMAIN", "DEMO_TOKEN", "DEMO_USERNAME", "SimUser", "create_app"]
