"""The operators' console inside the admin: the three reporting views as lists, database health, the Redis
browser, queues and workers, and saved read-only reports (README, "Back office and dashboard").

Nothing imports this package: its admin module registers its models and mounts its pages on the admin
site when the admin autodiscovers it. It may import ``payments``, ``analytics`` and ``blinkpos``.
"""
