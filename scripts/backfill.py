"""`make backfill EMPLOYER=<key> FROM=YYYY-MM-DD TO=YYYY-MM-DD`: backfill past pay periods.

Creates the backfill through the running Airflow's REST API (``POST /api/v2/backfills``, the call
the UI's "Run backfill" makes), so it works while `make airflow` runs (the CLI's backfill
command needs the metadata DB to itself). ``FROM`` and ``TO`` are inclusive calendar days in the
employer's time zone. One run at a time for the employer (``max_active_runs`` 1); periods whose
earlier run failed are run again, completed ones are not (``reprocess_behavior`` "failed").

A paused DAG leaves a backfill's runs queued forever, so a paused DAG is refused with a hint;
``UNPAUSE=1`` (``--unpause``) unpauses it first, with a warning: from then on the nightly
schedule runs too. ``DRY_RUN=1`` (``--dry-run``) only lists the runs the backfill would create.
Exit codes: 0 created (or dry run), 2 bad arguments or unknown employer, 3 DAG paused,
4 Airflow refused or is not reachable.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from airflow_api import AirflowAPI, AirflowAPIError

EXIT_USAGE, EXIT_PAUSED, EXIT_AIRFLOW = 2, 3, 4


def backfill_body(dag_id: str, first: date, last: date, tz: str) -> dict[str, object]:
    """The ``POST /api/v2/backfills`` body: ``first`` 00:00 to ``last`` 23:59:59 in ``tz`` (UTC ISO)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(first, time(0, 0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0, 0), zone) - timedelta(seconds=1)
    return {"dag_id": dag_id, "from_date": start.isoformat(), "to_date": end.isoformat(),
            "max_active_runs": 1, "reprocess_behavior": "failed", "run_backwards": False}


def _dates(dates: list[object]) -> str:
    shown = [str(d) for d in dates]
    return ", ".join(shown if len(shown) <= 8 else [*shown[:3], "...", *shown[-2:]])


def create_backfill(api: AirflowAPI, employer: str, first: date, last: date, unpause: bool = False,
                    dry_run: bool = False, out=print) -> int:
    """Create (or with ``dry_run`` list) the backfill of ``employer``'s DAG; returns an exit code.

    Prints the runs it creates (their logical dates) and, on refusal, why and what to do.
    """
    from payroll_etl.config import load_config
    from payroll_etl.errors import ConfigurationError

    try:
        cfg = next(e for e in load_config().employers if e.employer == employer)
    except StopIteration:
        known = ", ".join(e.employer for e in load_config().employers)
        out(f"unknown employer {employer!r}; employers in the config: {known}")
        return EXIT_USAGE
    except ConfigurationError as exc:
        out(f"employer config: {exc}")
        return EXIT_USAGE
    if last < first:
        out(f"FROM {first} is after TO {last}")
        return EXIT_USAGE
    dag_id = cfg.dag_id
    try:
        dag = api.dag(dag_id)
        if dag["is_paused"] and not dry_run:
            if not unpause:
                out(f"refused: DAG {dag_id} is paused, and a paused DAG leaves a backfill's runs queued "
                    f"forever. Unpause it in the UI ({api.base_url}/dags/{dag_id}) and run this again, or "
                    "add UNPAUSE=1 to unpause it here (its nightly schedule then runs too).")
                return EXIT_PAUSED
            api.set_paused(dag_id, False)
            out(f"WARNING: DAG {dag_id} was paused and is now unpaused, so the backfill can run; "
                "its nightly schedule runs from now on too (pause it again in the UI to stop that).")
        body = backfill_body(dag_id, first, last, cfg.timezone)
        planned = api.request("POST", "/api/v2/backfills/dry_run", body)["backfills"]
        dates = [p["logical_date"] or p["partition_key"] for p in planned]
        if dry_run:
            out(f"dry run: a backfill of {dag_id} from {first} to {last} would create {len(dates)} run(s): "
                f"{_dates(dates)}")
            return 0
        created = api.request("POST", "/api/v2/backfills", body)
    except AirflowAPIError as exc:
        if exc.status == 0:
            out(str(exc))
        elif exc.status == 404:
            out(f"DAG {dag_id} is not in Airflow (yet): is the dag-processor running and the DAG without "
                f"import errors? ({exc})")
        else:
            out(f"Airflow refused the backfill of {dag_id}: {exc}")
        return EXIT_AIRFLOW
    out(f"backfill {created['id']} of {dag_id} created: {len(dates)} run(s), one at a time, logical dates "
        f"{_dates(dates)}. Follow it in the UI: {api.base_url}/dags/{dag_id}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--employer", required=True, help="employer key from include/employers.yaml")
    parser.add_argument("--from", dest="first", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--to", dest="last", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--unpause", action="store_true", help="unpause a paused DAG (with a warning)")
    parser.add_argument("--dry-run", action="store_true", help="only list the runs it would create")
    args = parser.parse_args(argv)
    try:
        api = AirflowAPI.from_env()
    except AirflowAPIError as exc:
        print(exc, file=sys.stderr)
        return EXIT_AIRFLOW
    return create_backfill(api, args.employer, args.first, args.last, unpause=args.unpause,
                           dry_run=args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
