"""Training's memory: peak RSS of a streamed run as the dataset grows 10x, of the same run reading its shards over
HTTP (a server on localhost), and of train-then-evaluate with three networks against each network's own flow.
Not part of CI; prints JSON.

    python benchmarks/training_memory.py --small DIR --large DIR --test DIR [--steps 100]

`--small` and `--large` are datasets of the same parameters, the second with 10x the faces. Every figure is the
peak, sampled every 0.1 s, of the summed RSS of the command's process tree (the command, its training
processes, their DataLoader workers), leaving out Prefect's temporary API server, which every flow run has
whatever it trains. Each run trains two epochs of `--steps` steps (validation: 10 batches an epoch), streamed
(`--stream`): memory is the shuffle buffer and a shard per stream, never the dataset.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from _common import emit

ROOT = Path(__file__).resolve().parents[1]


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            pass
    return found


def _rss_mb(pid: int) -> float:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"uvicorn" in cmdline or b"prefect.server" in cmdline:
            return 0.0  # Prefect's API server: the same for every flow run
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss(command: list[str]) -> dict:
    """Run `command`; its process tree's peak summed RSS (MB) and its wall time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, lines = 0.0, []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    while process.poll() is None:
        peak = max(peak, sum(_rss_mb(p) for p in _tree(process.pid)))
        time.sleep(0.1)
    reader.join(timeout=5)
    if process.returncode:
        raise RuntimeError(f"{' '.join(command[:6])}... failed:\n{''.join(lines[-20:])}")
    return {"peak_rss_mb": round(peak, 1), "wall_s": round(time.perf_counter() - started, 1)}


def train_command(data: str, out: Path, steps: int, extra: list[str] = ()) -> list[str]:
    return [sys.executable, "-m", "frontside.cli", "train", "--no-prefect", "--data", data, "--out", str(out),
            "--epochs", "2", "--max-steps-per-epoch", str(steps), "--max-val-batches", "10", "--stream", "--overwrite",
            *extra]


PIPELINE = """
import sys
from frontside.cli.prefect_server import guarded_server
from frontside.orchestration.flows.pipeline import train_then_evaluate
with guarded_server():
    train_then_evaluate(train_data=[sys.argv[1]], test_data=[sys.argv[2]], out=sys.argv[3], archs=sys.argv[5:],
                        epochs=1, max_steps_per_epoch=int(sys.argv[4]), overwrite=True)
"""


def serve(folder: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=folder)
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", required=True)
    parser.add_argument("--large", required=True)
    parser.add_argument("--test", help="held-out dataset for train-then-evaluate (skipped without)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--archs", nargs="+", default=["twoview", "frontonly", "frontonly-thesis"])
    parser.add_argument("--out", default="bench-memory")
    parser.add_argument("--parts", nargs="+", default=["growth", "http", "pipeline"])
    args = parser.parse_args()
    out = Path(args.out)
    result: dict = {"steps": args.steps, "load_average_start": os.getloadavg()}
    from frontside.store.manifest import Manifest

    result["faces"] = {"small": Manifest.load(args.small).rows, "large": Manifest.load(args.large).rows}
    if "growth" in args.parts:
        for name in ("small", "large"):
            result[f"streamed_{name}"] = peak_rss(train_command(getattr(args, name), out / f"run-{name}", args.steps))
            print(json.dumps({name: result[f"streamed_{name}"]}), flush=True)
        result["growth_10x"] = result["streamed_large"]["peak_rss_mb"] / result["streamed_small"]["peak_rss_mb"] - 1
    if "http" in args.parts:
        small = Path(args.small).resolve()
        server, base = serve(str(small.parent))
        try:
            result["streamed_small_over_http"] = peak_rss(train_command(
                f"{base}/{small.name}", out / "run-http", args.steps, ["--cache-dir", str(out / "cache")]))
        finally:
            server.shutdown()
        print(json.dumps({"http": result["streamed_small_over_http"]}), flush=True)
    if "pipeline" in args.parts and args.test:
        flows = {}
        for archs in [[a] for a in args.archs] + [args.archs]:
            name = "+".join(archs)
            flows[name] = peak_rss([sys.executable, "-c", PIPELINE, args.small, args.test,
                                    str(out / f"pipeline-{name}"), str(args.steps), *archs])
            print(json.dumps({name: flows[name]}), flush=True)
        result["train_then_evaluate"] = flows
        heaviest = max(flows[a]["peak_rss_mb"] for a in args.archs)
        result["three_networks_over_the_heaviest_one"] = flows["+".join(args.archs)]["peak_rss_mb"] / heaviest - 1
    result["load_average_end"] = os.getloadavg()
    emit(result)


if __name__ == "__main__":
    main()
