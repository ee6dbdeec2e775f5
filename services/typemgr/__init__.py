"""typemgr: owns the segments of every network and the pools their ids are allocated from.

Serves ``ml2.v1.SegmentService``. Run it with ``python -m services.typemgr``; its settings are the
``TYPEMGR_*`` environment variables documented in ``services.typemgr.config``.
"""
