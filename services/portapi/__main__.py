"""``python -m services.portapi``: runs the network and port API."""

from services.portapi import server

server.main()
