"""The learner: the LightningModule (replay, TD3-style updates), its callbacks and checkpoint loading."""
