"""Live invoice status over Server-Sent Events: the per-process Redis listener (``hub``), the reads a
stream sends from PostgreSQL (``reads``) and the event framing (``sse``). The views are in
payments/api/status_events.py; the publishing side is payments/services/status_publish.py."""
