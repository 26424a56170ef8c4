"""Former home of the Loket first login; now :mod:`payroll_etl.connectors.loket_rest.onboarding`.

Kept so ``python -m payroll_etl.connectors.loket_onboarding`` and old imports keep working.
"""

from payroll_etl.connectors.loket_rest.onboarding import FAILURE, SUCCESS, _Handler, main, onboard
from payroll_etl.connectors.transport.callback import start_callback, wait_for_code

__all__ = ["FAILURE", "SUCCESS", "_Handler", "main", "onboard", "start_callback", "wait_for_code"]

if __name__ == "__main__":
    raise SystemExit(main())
