"""Celery app and tasks: thin shims that call trainhub services."""
