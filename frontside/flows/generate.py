"""The generation flow: plan shards, run one task per shard, keep the manifest current, sum the run up."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from tqdm import tqdm

from frontside.datasets.generation import GenerateParams, plan_shards
from frontside.datasets.shards import MANIFEST_NAME, Manifest, code_version, join, shard_name
from frontside.errors import FrontsideError
from frontside.tasks.generate import generate_shard_task, write_uv_regions_task

SAMPLE_GRID_NAME = "sample_grid.png"


@flow(name="generate-dataset", log_prints=True)
def generate_dataset(n_faces: int = 64, shard_size: int = 16, out: str = "data/synthetic", source: str = "builtin",
                     backgrounds: str | None = None, seed: int = 0, size: int = 256, renderer: str = "raster",
                     depth: bool = True, progress: bool = False) -> dict:
    """Generate (or resume, or repair) a synthetic dataset at `out`; returns a summary: out, manifest (its URL),
    rows, shards, written, skipped.

    Running it again with the same parameters skips every shard whose bytes match the manifest and redoes
    only missing or corrupt ones. Different parameters for an existing dataset are refused. The manifest is
    saved (atomically) after every finished shard, so a run that fails or is killed keeps what it finished;
    a shard that fails (after its task's retries) does not stop the others, and the run then raises naming it.
    """
    params = GenerateParams(n_faces=n_faces, shard_size=shard_size, seed=seed, source=source,
                            backgrounds=backgrounds, renderer=renderer, size=size, depth=depth)
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
    expected = [manifest.shards.get(shard_name(s.index)) for s in specs]
    futures = generate_shard_task.map(specs, params=unmapped(params), out=unmapped(out), expected=expected)
    spec_of = {future.task_run_id: spec for future, spec in zip(futures, specs)}
    written = skipped = 0
    failed: list[str] = []
    bar = tqdm(total=len(specs), desc="shards", unit="shard", disable=not progress)
    for future in as_completed(futures):
        try:
            info, was_skipped = future.result()
        except Exception as exc:  # keep collecting: every other finished shard still goes into the manifest
            failed.append(f"{shard_name(spec_of[future.task_run_id].index)}: {exc}")
            continue
        manifest.shards[info.name] = info
        manifest.save(out)  # after every shard, so a killed run keeps what it finished
        skipped += was_skipped
        written += not was_skipped
        bar.update(1)
    bar.close()
    regions.result()
    manifest.extra = {"shards_written": written, "shards_skipped": skipped, "shards_failed": len(failed)}
    manifest.save(out)
    if failed:
        raise FrontsideError(f"{out}: {len(failed)} of {len(specs)} shards failed (run the same command again to "
                             f"redo only those):\n  " + "\n  ".join(failed))
    _summarise(out, manifest, written, skipped)
    print(f"{out}: {manifest.rows} pairs in {len(manifest.shards)} shards ({written} written, {skipped} valid)")
    return {"out": out, "manifest": join(out, MANIFEST_NAME), "rows": manifest.rows,
            "shards": len(manifest.shards), "written": written, "skipped": skipped}


def _summarise(out: str, manifest: Manifest, written: int, skipped: int) -> None:
    """A Prefect table artifact of the shards and a sample grid (PNG beside the manifest, linked in markdown)."""
    create_table_artifact(key="generated-shards", description=f"Shards of {out}",
                          table=[{"shard": s.name, "rows": s.rows, "sha256": s.sha256[:16], "bytes": s.nbytes}
                                 for s in sorted(manifest.shards.values(), key=lambda s: s.name)])
    summary = (f"**{manifest.rows} pairs** in {len(manifest.shards)} shards at `{out}`: {written} written, "
               f"{skipped} already valid and skipped.\n\nParameters: `{manifest.parameters}`; "
               f"code `{manifest.code_version}`.")
    try:
        from frontside.datasets.preview import pair_grid
        from frontside.datasets.shards import decode_row, read_shard, write_bytes_atomic
        from frontside.pictures import encode_png

        first = sorted(manifest.shards)[0]
        table = read_shard(join(out, first), manifest.shards[first])
        grid = pair_grid([decode_row(table, i) for i in range(min(4, table.num_rows))])
        url = join(out, SAMPLE_GRID_NAME)
        write_bytes_atomic(url, encode_png(grid))
        link = url if "://" in url else Path(url).resolve().as_uri()
        summary += (f"\n\nSample pairs of `{first}` (each view with its landmarks, parts and depth; the position "
                    f"map): "
                    f"[{SAMPLE_GRID_NAME}]({link})\n\n![sample pairs]({link})")
    except Exception as exc:  # a summary must never fail a finished dataset
        print(f"sample grid skipped: {exc}")
    try:
        from frontside.datasets.card import write_dataset_card

        write_dataset_card(out, manifest)
    except Exception as exc:  # as the grid: never fail a finished dataset
        print(f"dataset card skipped: {exc}")
    create_markdown_artifact(key="generated-dataset", markdown=summary, description=f"Dataset {out}")


def task_runner(workers: int = 2, dask_address: str | None = None):
    """Threads on this machine by default; an existing Dask cluster (prefect-dask) when an address is given."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    return ThreadPoolTaskRunner(max_workers=max(workers, 1))


def run_generate(workers: int = 2, dask_address: str | None = None, **parameters) -> dict:
    """Run `generate_dataset` with the chosen task runner (the entry point the CLI uses)."""
    return generate_dataset.with_options(task_runner=task_runner(workers, dask_address))(**parameters)


@flow(name="generate-dataset-scaled", log_prints=True)
def generate_dataset_scaled(n_faces: int = 64, shard_size: int = 16, out: str = "data/synthetic",
                            source: str = "builtin", backgrounds: str | None = None, seed: int = 0, size: int = 256,
                            renderer: str = "raster", depth: bool = True, workers: int = 2,
                            dask_address: str | None = None) -> dict:
    """`generate_dataset` as a subflow on the task runner these parameters choose: the deployment entrypoint,
    since a deployed flow cannot pick its own task runner from its parameters."""
    return run_generate(workers=workers, dask_address=dask_address, n_faces=n_faces, shard_size=shard_size,
                        out=out, source=source, backgrounds=backgrounds, seed=seed, size=size, renderer=renderer,
                        depth=depth)
