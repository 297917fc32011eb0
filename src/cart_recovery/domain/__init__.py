"""The pure core: no I/O, no clock reads, no randomness. Time comes in as an argument."""
