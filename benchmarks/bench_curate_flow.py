"""Figure 4's `savgbench curate` child of `benchmarks.bench_curate`, a module of its own so that Prefect's temporary
API server starts before anything heavy is imported, as in `savgbench curate` (flows.cli.main): the benchmark's
imports (numpy, the curation modules) and Prefect's then overlap with the server's start-up as the command's do.

Run by bench_curate's `measure_flow` as `python -m benchmarks.bench_curate_flow --child flow SOURCE OUTPUT RESULT`;
the result (bench_curate's `child_flow`) is written to RESULT as JSON, last, so that it exists only on success.
"""

from __future__ import annotations

import sys
import time

STARTED_S = time.perf_counter()

from flows.early_api_server import EarlyApiServer, set_prefect_defaults  # noqa: E402 - the standard library only


def main(argv: list[str]) -> int:
    if len(argv) != 5 or argv[:2] != ["--child", "flow"]:
        print("usage: python -m benchmarks.bench_curate_flow --child flow SOURCE OUTPUT RESULT", file=sys.stderr)
        return 2
    set_prefect_defaults()  # as flows.cli.main does before it starts the server
    server = EarlyApiServer.start_unless_configured()
    import json
    from pathlib import Path

    from benchmarks.bench_curate import child_flow
    from data_contracts._atomic import write_text_atomic

    source_dir, output_dir, result_path = (Path(arg) for arg in argv[2:])
    result = child_flow(source_dir, output_dir, server, STARTED_S)
    write_text_atomic(result_path, json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
