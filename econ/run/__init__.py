"""What a run is made of around the algorithm: start-up, env file, JSONL run files, usage log, loggers, sweep jobs,
the checks of the files it reads (inputs) and the places it writes (writable), Ctrl-C (interrupt)."""
