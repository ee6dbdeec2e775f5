"""typemgr's storage: tables, allocation queries and transactions. Only typemgr reads these."""
