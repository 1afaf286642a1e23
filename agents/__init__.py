"""Thin Faust agents: decode, call the pure core, send the results."""
