"""Market generation, the demo, the benchmark and fault injection for the crash specs."""
