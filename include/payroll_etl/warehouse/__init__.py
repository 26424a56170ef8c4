"""The benefits warehouse: one schema (SQLAlchemy Core + alembic) on DuckDB and PostgreSQL."""
