"""The chaos soak: the real stack under stacked faults, then the money invariants and a secret scan.

``python -m chaos --sales 2000 --seed 1`` (``make chaos``). Loopback only; it starts its own PostgreSQL
and Redis (never the machine's shared servers) and stops every process it started, by PID.
"""
