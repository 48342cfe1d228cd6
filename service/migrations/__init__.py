"""Alembic scripts for the service's schema (run by ``service.storage.migrate``)."""
