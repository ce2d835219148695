"""Maintenance tasks run by Celery beat."""

__all__: list[str] = []
