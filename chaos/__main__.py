"""``python -m chaos``: the chaos soak (see chaos/run.py)."""

import sys

from chaos.run import main

sys.exit(main())
