"""SA-V-128 builder stages: source parsing, captioning, scoring, selection, stage caches."""
