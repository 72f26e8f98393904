"""Storage: SQLAlchemy 2 tables, Alembic migrations and one small repository per concern.

SQLite in the data folder by default; PostgreSQL by URL, shared by several replicas.
Every change to served state happens in one transaction together with its audit entry
and a bump of the config generation, so a crash mid-write leaves the old state whole.
"""
