"""The benchmark suite (``make bench`` / ``python -m bench``): floors, scenarios, the LNbits peer.

Loopback only, bounded in time, and every process it starts is stopped by PID. Figures are reported,
never asserted: tests do not depend on timings.
"""
