"""Runs typemgr: ``python -m services.typemgr``."""

from services.typemgr import server

if __name__ == "__main__":
    server.main()
