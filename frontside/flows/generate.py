"""The generation flow: plan shards, run one task per shard, keep the manifest current, sum the run up."""

from __future__ import annotations

from prefect import flow, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from tqdm import tqdm

from frontside.datasets.generation import GenerateParams, plan_shards
from frontside.datasets.shards import Manifest, code_version, join
from frontside.errors import FrontsideError
from frontside.tasks.generate import generate_shard_task, write_uv_regions_task


@flow(name="generate-dataset", log_prints=True)
def generate_dataset(n_faces: int = 64, shard_size: int = 16, out: str = "data/synthetic", source: str = "builtin",
                     backgrounds: str | None = None, seed: int = 0, size: int = 256, renderer: str = "pyrender",
                     progress: bool = False) -> dict:
    """Generate (or resume, or repair) a synthetic dataset at `out`; returns the manifest as a dict.

    Running it again with the same parameters skips every shard whose bytes match the manifest and redoes
    only missing or corrupt ones. Different parameters for an existing dataset are refused.
    """
    params = GenerateParams(n_faces=n_faces, shard_size=shard_size, seed=seed, source=source,
                            backgrounds=backgrounds, renderer=renderer, size=size)
    manifest = Manifest.load_or_none(out)
    if manifest is not None and manifest.parameters != params.as_dict():
        raise FrontsideError(f"{join(out, 'manifest.json')}: made with different parameters "
                             f"{manifest.parameters}; use another --out or delete it")
    if manifest is None:
        manifest = Manifest(parameters=params.as_dict())
    manifest.code_version = code_version()
    manifest.save(out)
    regions = write_uv_regions_task.submit(params, out)
    specs = plan_shards(n_faces, shard_size)
    expected = [manifest.shards.get(f"shard-{s.index:05d}.parquet") for s in specs]
    futures = generate_shard_task.map(specs, params=unmapped(params), out=unmapped(out), expected=expected)
    written = skipped = 0
    bar = tqdm(total=len(specs), desc="shards", unit="shard", disable=not progress)
    for future in as_completed(futures):
        info, was_skipped = future.result()
        manifest.shards[info.name] = info
        manifest.save(out)  # after every shard, so a killed run keeps what it finished
        skipped += was_skipped
        written += not was_skipped
        bar.update(1)
    bar.close()
    regions.result()
    manifest.extra = {"shards_written": written, "shards_skipped": skipped}
    manifest.save(out)
    _summarise(out, manifest)
    print(f"{out}: {manifest.rows} pairs in {len(manifest.shards)} shards ({written} written, {skipped} valid)")
    return {"out": out, "rows": manifest.rows, "shards": len(manifest.shards), "written": written,
            "skipped": skipped}


def _summarise(out: str, manifest: Manifest) -> None:
    """A Prefect table artifact of the shards and a sample grid beside the manifest."""
    create_table_artifact(key="generated-shards", description=f"Shards of {out}",
                          table=[{"shard": s.name, "rows": s.rows, "sha256": s.sha256[:16], "bytes": s.nbytes}
                                 for s in sorted(manifest.shards.values(), key=lambda s: s.name)])
    try:
        from frontside.datasets.preview import pair_grid
        from frontside.datasets.shards import decode_row, read_shard, write_bytes_atomic
        from frontside.pictures import encode_png

        first = sorted(manifest.shards)[0]
        table = read_shard(join(out, first))
        grid = pair_grid([decode_row(table, i) for i in range(min(4, table.num_rows))])
        url = join(out, "sample_grid.png")
        write_bytes_atomic(url, encode_png(grid))
        create_markdown_artifact(key="generated-sample", markdown=f"Sample pairs: `{url}` "
                                 f"(front with landmarks, front, side, position map)")
    except Exception as exc:  # a summary must never fail a finished dataset
        print(f"sample grid skipped: {exc}")


def task_runner(workers: int = 2, dask_address: str | None = None):
    """Threads on this machine by default; an existing Dask cluster (prefect-dask) when an address is given."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    return ThreadPoolTaskRunner(max_workers=max(workers, 1))


def run_generate(workers: int = 2, dask_address: str | None = None, **parameters) -> dict:
    """Run `generate_dataset` with the chosen task runner (the entry point the CLI uses)."""
    return generate_dataset.with_options(task_runner=task_runner(workers, dask_address))(**parameters)
