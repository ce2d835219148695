"""Outbound HTTP to hosts a user named (LNURL servers now, merchants' webhook URLs later).

Everything here goes through ``safe_http`` (docs/ARCHITECTURE.md, money rule 9). No Django import at
module level: callers pass a ``SafeHttpPolicy`` (``policy_from_settings()`` builds the process's).
"""
