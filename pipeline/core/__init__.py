"""The pure core: event-time windows, crisis-risk scores and the alert lifecycle.

Nothing here does I/O or reads the clock; the live agents and the offline backtest call the same
functions, so the same input gives the same alerts either way.
"""
