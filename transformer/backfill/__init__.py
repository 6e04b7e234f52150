"""`transformer backfill` on Dask: inputs split into partitions (`inputs`), each read
(`read`), transformed, written and sent by a task on a worker (`work`, `send`), the job's
progress kept in a manifest (`manifest`) of its output folder (`store`), and run on a cluster
(`job`). Needs the `dask` extra: `pip install 'transformer[dask]'`. Import what you use from its
modules (importing the package itself loads none of them)."""

__all__: list[str] = []
