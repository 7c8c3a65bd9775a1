"""The ways in: the `lossledger` command line, its console output, the HTTP API."""
