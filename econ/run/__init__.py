"""What a run is made of around the algorithm: start-up, env file, JSONL run files, usage log, loggers, sweep jobs."""
