#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

Defaults to the dev settings, so a command on a fresh clone works; the servers (wsgi, asgi, Celery)
default to production, and the Docker image sets DJANGO_SETTINGS_MODULE to production for its commands.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinkpos.settings.dev")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
