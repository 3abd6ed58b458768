"""The `sgwatch` commands, one module each: its options (`register`) and what it does (`run`)."""
