"""portapi storage: the tables of networks, ports and bindings, and the statements on them."""
