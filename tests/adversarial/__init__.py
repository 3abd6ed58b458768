"""The fault-and-abuse suite: each guarantee the README states, tried against the input or fault that would break it."""
