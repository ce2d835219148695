"""Settings package: ``base`` reads the environment, ``production`` adds the boot guards, ``dev`` is a developer
machine and ``make run``, ``test`` the test tweaks."""
