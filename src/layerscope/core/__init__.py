"""The lowest tier: what every other part builds on and nothing of layerscope's own above it.

Atomic files (:mod:`.files`), the one owner of output folders (:mod:`.outputs`), JSON helpers
(:mod:`.jsonio`), tensor helpers (:mod:`.tensors`), tensor layouts (:mod:`.layout`). The streaming
statistics live in :mod:`layerscope.stats`, in this tier too.
"""
