"""Shared pieces every connector is composed from (docs/architecture.md).

* :mod:`.retry`     one retry policy (tenacity) from the error taxonomy, ``Retry-After``, the tuning knob names
* :mod:`.http`      :class:`~.http.HttpTransport`: session, timeouts, landing, call counting, ``check_response``
* :mod:`.soap`      :class:`~.soap.SoapTransport`: the same for zeep clients, ``check_fault``
* :mod:`.tokens`    OAuth token stores and rotating refresh tokens (Loket REST, Nmbrs REST)
* :mod:`.callback`  the local redirect target of a first login / consent

Importing the package imports none of them (nothing heavy at DAG-parse time).
"""
