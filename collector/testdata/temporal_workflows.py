"""Workflow + activities for the temporal capture (see temporal_record.py).

A separate module so the Temporal workflow sandbox can re-import it cleanly.
"""

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError


@activity.defn
async def charge_card(order_id: str) -> str:
    if order_id.endswith("-declined"):
        raise ApplicationError("card declined", type="CardDeclined", non_retryable=True)
    return f"charged {order_id}"


@activity.defn
async def ship_order(order_id: str) -> str:
    return f"shipped {order_id}"


@workflow.defn
class OrderWorkflow:
    @workflow.run
    async def run(self, order_id: str) -> str:
        opts = dict(start_to_close_timeout=timedelta(seconds=10), retry_policy=RetryPolicy(maximum_attempts=1))
        charged = await workflow.execute_activity(charge_card, order_id, **opts)
        shipped = await workflow.execute_activity(ship_order, order_id, **opts)
        return f"{charged}; {shipped}"
