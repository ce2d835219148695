"""The merchant dashboard (web POS, transactions, tips, reports, settings) and the back-office overview."""
