"""nats-py internals (private): the one publisher and the one pull reader that omnihub.common.bus builds on.

Everything here leans on nats-py's private attributes (`_send_command`, `_flush_pending`, a pull
subscription's `_sub`, `_nms`, `_deliver`, a message's `_ackd`), pinned by uv.lock; each helper is kept
only because bench/bus.py shows it pays (figures in its module docstring).
"""

from omnihub.common._nats.acked import publish_retrying
from omnihub.common._nats.consumer import PullReader, num_delivered
from omnihub.common._nats.fastbatch import MIN_BATCH
from omnihub.common._nats.publisher import Publisher

__all__ = ["MIN_BATCH", "Publisher", "PullReader", "num_delivered", "publish_retrying"]
