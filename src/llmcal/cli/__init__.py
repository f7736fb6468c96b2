"""The ``llmcal`` command line: one module per subcommand, assembled in :mod:`llmcal.cli.app`."""
