"""ttm-bench: an evaluation and benchmark suite for image-to-video generation.

The flow is benchmark → generation run → evaluation → results → reports; each arrow is a file
contract on disk (see the README and DESIGN.md).
"""

__version__ = "0.1.0"
