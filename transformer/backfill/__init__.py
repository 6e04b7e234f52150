"""`transformer backfill` on Dask: inputs split into partitions (`inputs`), each read
(`read`), transformed, written and sent by a task on a worker (`work`, `send`), the job's
progress kept in a manifest (`manifest`) of its output folder (`store`), and run on a cluster
(`job`). Needs the `dask` extra: `pip install 'transformer[dask]'`."""

from .inputs import DEFAULT_PARTITION_SIZE, Partition, PlanError, expand_inputs, plan_partitions
from .job import Backfill, Outcome
from .manifest import ManifestError
from .send import Sealed, SendPlan
from .store import Store

__all__ = [
    "DEFAULT_PARTITION_SIZE",
    "Backfill",
    "ManifestError",
    "Outcome",
    "Partition",
    "PlanError",
    "Sealed",
    "SendPlan",
    "Store",
    "expand_inputs",
    "plan_partitions",
]
