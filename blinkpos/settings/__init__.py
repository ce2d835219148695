"""Settings package: ``base`` reads the environment, ``production`` adds the boot guards, ``test`` the test tweaks."""
