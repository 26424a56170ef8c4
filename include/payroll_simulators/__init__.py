"""Local payroll simulators that speak the real protocols on 127.0.0.1.

Used by the demo and the tests. Production code (``payroll_etl``) never imports this package.
"""
