"""The work-arounds in pipeline.faust_fixes, on the real faust/mode classes (no broker)."""

from __future__ import annotations

from types import SimpleNamespace

import faust
import pytest
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from pipeline.faust_fixes import FlowControlKeepingQueues, is_ready, keep_queued_messages_on_resume


def queued_after_resume(flow_control: FlowControlEvent) -> int:
    queue: FlowControlQueue[str] = FlowControlQueue(
        maxsize=10, flow_control=flow_control, clear_on_resume=True
    )
    flow_control.resume()
    queue.put_nowait("fetched during the seek")
    flow_control.suspend()
    flow_control.resume()  # the end of a rebalance's recovery
    return queue.qsize()


def test_stock_flow_control_drops_queued_messages_on_resume() -> None:
    """What the fix is for: if this ever fails, faust/mode changed and the fix may be moot."""
    assert queued_after_resume(FlowControlEvent()) == 0


def test_queued_messages_survive_resume() -> None:
    assert queued_after_resume(FlowControlKeepingQueues()) == 1


def test_clear_still_clears_and_suspend_still_suspends() -> None:
    flow_control = FlowControlKeepingQueues()
    queue: FlowControlQueue[str] = FlowControlQueue(
        maxsize=10, flow_control=flow_control, clear_on_resume=True
    )
    flow_control.resume()
    assert flow_control.is_active()
    queue.put_nowait("of a revoked partition")
    flow_control.suspend()
    assert not flow_control.is_active()
    flow_control.clear()  # what Faust does on revoke
    assert queue.qsize() == 0


def test_the_fix_replaces_the_apps_flow_control_once() -> None:
    app = faust.App("fix-test", broker="kafka://127.0.0.1:1", web_enabled=False)
    keep_queued_messages_on_resume(app)
    assert isinstance(app.flow_control, FlowControlKeepingQueues)
    with pytest.raises(RuntimeError, match="already in use"):
        keep_queued_messages_on_resume(app)


def test_a_fresh_app_uses_the_stock_flow_control() -> None:
    """The cached property the fix relies on: untouched, an app builds the stock event."""
    app = faust.App("fix-test-2", broker="kafka://127.0.0.1:1", web_enabled=False)
    assert type(app.flow_control) is FlowControlEvent


@pytest.mark.parametrize(
    ("count", "rebalancing", "in_recovery", "ready"),
    [
        (0, False, False, False),  # not joined yet: Faust's flags alone would say ready
        (1, True, False, False),
        (1, False, True, False),
        (1, False, False, True),
        (3, True, False, False),  # a later rebalance
    ],
)
def test_readiness(count: int, rebalancing: bool, in_recovery: bool, ready: bool) -> None:
    app = SimpleNamespace(rebalancing_count=count, rebalancing=rebalancing, in_recovery=in_recovery)
    assert is_ready(app) is ready
