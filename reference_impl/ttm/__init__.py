"""Reference Through-The-Mask (arXiv 2501.03059): a two-stage image-to-video model with
mask trajectories and masked attention, its TI2V baseline and ablations (docs/reference_ttm.md).

Modules import their heavy dependencies (torch, diffusers, transformers) themselves; importing
this package imports nothing.
"""
