"""Nmbrs REST API simulator (identity server + ``/api``) for tests and the demo."""

from payroll_simulators.nmbrs_rest.app import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_PASSWORD,
    DEMO_SUBSCRIPTION_KEY,
    DEMO_USERNAME,
    create_app,
)

__all__ = ["DEMO_CLIENT_ID", "DEMO_CLIENT_SECRET", "DEMO_PASSWORD", "DEMO_SUBSCRIPTION_KEY", "DEMO_USERNAME",
           "create_app"]
