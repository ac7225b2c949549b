"""The schema's Alembic migrations (``crate db upgrade``; see :mod:`core.storage.migrate`)."""
