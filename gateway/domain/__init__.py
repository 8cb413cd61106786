"""Pure demand-response logic: no I/O, no clock reads. Time always comes in as an argument."""
