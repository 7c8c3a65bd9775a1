"""`lossledger serve`: the HTTP API for account-history views and its tokens."""
