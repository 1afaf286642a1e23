"""Work-arounds for faust-streaming behaviour that breaks at-least-once delivery (0.15.3).

**Messages fetched while a worker finishes recovery are dropped.** At the end of every rebalance
(including the first one, at start), Faust resumes the stream partitions, seeks them to their
committed offsets (an await: the fetcher keeps running meanwhile), and then calls
``app.flow_control.resume()``, which *clears every stream queue*. A worker that starts with a
backlog fetches part of it in that window:

- those messages sit in the agents' queues and are cleared;
- the fetcher has already recorded them as read (``Consumer._read_offset``), so after the seek the
  copies fetched again are skipped as "already read".

They are never processed and never dead-lettered. We saw 2,400 raw mentions of a 4,000-mention
backlog vanish this way (Faust logs nothing). The queue clear on resume is redundant: on revoke
Faust suspends the flow and clears the queues itself (``App._on_partitions_revoked``). So here the
queues keep what they hold when the flow resumes. What was queued before the seek is then
delivered twice (the seek rewinds to the committed offset); the agents skip the copies of what they
have processed (``pipeline.delivery.Processed``), and every output is idempotent anyway.
"""

from __future__ import annotations

from typing import Any

from mode.utils.queues import FlowControlEvent


class FlowControlKeepingQueues(FlowControlEvent):
    """``FlowControlEvent`` whose ``resume`` does not clear the queues (``clear`` still does)."""

    def resume(self) -> None:
        self._suspend.clear()
        self._resume.set()


def keep_queued_messages_on_resume(app: Any) -> None:
    """Install ``FlowControlKeepingQueues`` as the app's flow control.

    Must run before any agent or stream exists: their queues register with the flow control when
    they are created. ``faust.App.flow_control`` is a cached property, so setting the instance
    attribute replaces it.
    """
    if "flow_control" in vars(app):
        msg = "the app's flow control is already in use; install the fix right after faust.App()"
        raise RuntimeError(msg)
    app.flow_control = FlowControlKeepingQueues()


def is_ready(app: Any) -> bool:
    """Ready: a rebalance has begun (``rebalancing_count``) and ended, and no recovery runs.

    Faust's ``rebalancing`` and ``in_recovery`` are both false *before* the worker has joined its
    group, so on their own they report a worker that owns no partition yet as ready.
    """
    return bool(app.rebalancing_count > 0 and not app.rebalancing and not app.in_recovery)
