"""Forwarding tasks (the money path)."""

__all__: list[str] = []
