"""Transports: how a script reaches a host. See base.Transport."""
