"""Former home of the token stores; they are shared now: :mod:`payroll_etl.connectors.transport.tokens`."""

from payroll_etl.connectors.transport.tokens import (
    TOKEN_KEYS,
    FileTokenStore,
    MemoryTokenStore,
    RotatingAccess,
    TokenStore,
    store_from_spec,
)

__all__ = ["TOKEN_KEYS", "FileTokenStore", "MemoryTokenStore", "RotatingAccess", "TokenStore", "store_from_spec"]
