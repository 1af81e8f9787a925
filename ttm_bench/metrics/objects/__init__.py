"""Object-level motion metrics: the benchmark's first-frame masks s(0) tracked through a video.

`tracks.py` (the tracker output and pure reductions), `propagation.py` (flow sampling and
consistency), `similarity_motion.py` (robust motion fits), `appearance.py` (the objects' colour
models) and `layered_propagation.py` (occlusion-aware mask tracking) are pure maths;
`tracker.py` is the tracker interface, one module per backend (`flow_tracker`, `sam2_tracker`,
`cotracker_tracker`); `metrics.py` holds the registered metrics.
"""
