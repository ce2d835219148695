"""LNURL-pay (LUD-06, LUD-16 Lightning addresses, LUD-12 comments) and the payout-invoice check.

No Django and no ORM here: the HTTP policy comes in as a ``SafeHttpPolicy`` and "was this payment hash
seen before" as a callable, so services decide where those come from (docs/ARCHITECTURE.md, money
rules 8 and 9).
"""
