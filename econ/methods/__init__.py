"""Baselines through the same LLM layer, answer checker and records as ECON: single, self-consistency, MAD.

Each is built from its `conf/method/*.yaml` (`_target_`) and plays one problem with
`await baseline.play(client, problem) -> EpisodeResult`, like `EpisodeRunner.play`.
"""
