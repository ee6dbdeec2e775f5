"""Row-by-row checks of docs/neutron-parity.md that no other test pinned."""
