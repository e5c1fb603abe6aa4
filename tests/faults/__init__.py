"""Fault campaigns: real daemons on a five-tier chain under injected faults (``make faults``)."""
