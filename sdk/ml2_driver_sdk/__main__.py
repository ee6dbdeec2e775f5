"""Serves any installed mechanism driver by name: ``python -m ml2_driver_sdk NAME``
(what ``ml2 driver run NAME`` and ``ml2 up`` run). Exits with status 2 and a one-line reason
when no installed distribution declares NAME."""

from ml2_driver_sdk import serve

raise SystemExit(serve.main())
