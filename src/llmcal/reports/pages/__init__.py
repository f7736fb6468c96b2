"""The report's page of each run kind, one module per kind, built from the shared parts in :mod:`.parts`."""
