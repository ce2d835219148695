"""The merchant's web app: POS page, transactions, tips, reports, settings, staff and terminals.

Its views call ``payments`` services for every write and ``analytics`` for the figures they show;
nothing in ``payments`` or ``analytics`` imports from here.
"""
