"""Loket.nl REST simulator (OAuth2 + /v2 API) for tests and the demo."""

from payroll_simulators.loket_rest.app import RIGHTS, LoketSimulator, SimClock, create_app

__all__ = ["RIGHTS", "LoketSimulator", "SimClock", "create_app"]
