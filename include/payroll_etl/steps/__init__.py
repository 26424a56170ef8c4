"""The four steps of an employer run, one module each, and the run context they share.

``payroll_etl.pipeline`` is the entry point (it re-exports every step and holds the load step):
``context`` (:class:`RunContext`, staging paths, private files), ``extract``, ``normalize``,
``validate`` and ``baseline`` (what the warehouse knows of earlier runs, for the checks).
"""
