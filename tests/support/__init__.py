"""What the specifications of every tier share: ledgers, databases, processes, stores."""
