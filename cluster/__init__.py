"""``make cluster``: the multi-node rehearsal (cluster/run.py)."""
