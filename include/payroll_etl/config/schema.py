"""Write the JSON schema of employers.yaml to docs/employers.schema.json (``make schema``).

``python -m payroll_etl.config.schema [--check]``: generated from the pydantic models
(:func:`payroll_etl.config.models.file_schema`), so it changes with a connector's options model or
a new connector in the registry. ``--check`` exits 1 when the committed file differs (tests do the same).
Editors can use it: ``# yaml-language-server: $schema=../docs/employers.schema.json``.
"""

from __future__ import annotations

import json
import re
import sys

from payroll_etl.config.models import file_schema
from payroll_etl.settings import PROJECT_ROOT

SCHEMA_FILE = PROJECT_ROOT / "docs" / "employers.schema.json"


def schema_text() -> str:
    """The schema as committed: sorted keys, two-space indent, trailing newline."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "employers.yaml",
              **file_schema()}
    # Every connector's model is ``Options`` in its own folder; pydantic names them by module path.
    named = _OPTIONS_REF.sub(lambda m: m[1].title().replace("_", "") + "Options", json.dumps(schema))
    return json.dumps(json.loads(named), indent=2, sort_keys=True) + "\n"


_OPTIONS_REF = re.compile(r"payroll_etl__connectors__([a-z0-9_]+?)__settings__Options")


def main(argv: list[str]) -> int:
    """Write (or with ``--check`` compare) docs/employers.schema.json; 0 when it is up to date."""
    text = schema_text()
    if "--check" in argv:
        current = SCHEMA_FILE.read_text() if SCHEMA_FILE.exists() else ""
        if current != text:
            print(f"{SCHEMA_FILE} is stale: run make schema", file=sys.stderr)
            return 1
        return 0
    SCHEMA_FILE.write_text(text)
    print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
