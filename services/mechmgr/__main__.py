"""``python -m services.mechmgr``: the mechanism manager and agent registry."""

from services.mechmgr import server

server.main()
