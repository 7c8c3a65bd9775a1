"""Applying command files: lines read with their offsets, batched atomic saves, bounded retries."""
