"""The command language at the edge: JSON Lines reading, the pydantic models, one-line refusals."""
