"""``python -m cluster``: the multi-node rehearsal (see cluster/run.py)."""

import sys

from cluster.run import main

sys.exit(main())
