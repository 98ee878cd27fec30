"""Show that a code change leaves the curated outputs byte-identical: curate the demo set with two revisions.

    .venv/bin/python scripts/compare_outputs.py --base <REV> [--recordings 3 --duration-s 20 --verify]

Each revision (REV, checked out into a temporary git worktree, and this working tree) writes its own synthetic
demo set with `savgbench synth` and curates it with `savgbench curate` in-process, with the same virtualenv. Then
every file of both source folders and both output folders is hashed and compared: the synthetic recordings,
`manifests/*.parquet`, `splits/*.txt` and every clip's mp4, wav and csv. `report/` (wall-clock timings, the audit
page) and `.ledger/` (timings) are left out. Exits 0 when every compared file is the same bytes, 1 otherwise,
naming each file that differs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tasks.discover import sha256_file

REPO = Path(__file__).resolve().parents[1]
# Written with run-dependent content (timings, absolute paths in the audit page); not part of the dataset.
# The report holds timings; `.savgbench/` holds the ledgers and the releases, whose folder names hold a time: the
# manifests and split lists are compared through their `manifests/` and `splits/` links instead.
SKIPPED_DIRS = ("report", ".savgbench")


def tree_digests(root: Path) -> dict[str, str]:
    """sha256 of every file under root, by path relative to it, without SKIPPED_DIRS; files under a linked folder
    (`manifests/`, `splits/`) as well, which `rglob` does not follow."""
    digests = {}
    paths = list(root.rglob("*")) + [p for link in root.iterdir() if link.is_symlink() and link.is_dir()
                                     for p in link.rglob("*")]
    for path in sorted(paths):
        relative = path.relative_to(root)
        if path.is_file() and relative.parts[0] not in SKIPPED_DIRS:
            digests[relative.as_posix()] = sha256_file(path)
    return digests


def run_revision(tree: Path, work: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """Synthesise and curate with the code of `tree`; returns (source folder, output folder)."""
    source, out = work / "source", work / "out"
    env = dict(os.environ, PYTHONPATH=str(tree), PREFECT_HOME=str(work / ".prefect"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", YOLO_CONFIG_DIR=str(work / ".yolo"), YOLO_OFFLINE="1")
    python = [sys.executable, "-m", "flows.cli"]
    subprocess.run([*python, "synth", str(source), "--recordings", str(args.recordings), "--duration-s",
                    str(args.duration_s), "--seed", str(args.seed)], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    overrides = [*(["--set", "verify=true"] if args.verify else []), *sum((["--set", o] for o in args.set), [])]
    if (tree / "data_contracts" / "recipes" / "exhaustive.yaml").is_file():
        # The rule itself, which a tree without named recipes applies by default (the CLI's default is `release`).
        overrides = ["--recipe", "exhaustive", *overrides]
    subprocess.run([*python, "curate", str(source), str(out), *overrides], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if not args.verbose else None)
    return source, out


def compare(label: str, base: dict[str, str], head: dict[str, str]) -> list[str]:
    problems = [f"{label}/{name}: only in base" for name in sorted(base.keys() - head.keys())]
    problems += [f"{label}/{name}: only in this tree" for name in sorted(head.keys() - base.keys())]
    problems += [f"{label}/{name}: bytes differ" for name in sorted(base.keys() & head.keys())
                 if base[name] != head[name]]
    print(f"{label}: {len(base)} files in base, {len(head)} in this tree, "
          f"{sum(base.get(n) == d for n, d in head.items())} identical")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="HEAD", help="git revision to compare against (default HEAD)")
    parser.add_argument("--head", default=None, help="git revision to compare (default: this working tree)")
    parser.add_argument("--recordings", type=int, default=3, help="synthetic recordings (demo default 3)")
    parser.add_argument("--duration-s", type=float, default=20.0, help="seconds per recording (demo default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verify", action="store_true", help="also run the visual verification stage")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override")
    parser.add_argument("--work", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--verbose", action="store_true", help="show the curate runs' logs")
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="savgbench-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    trees = {"base": work / "base-tree", "head": work / "head-tree" if args.head else REPO}
    revisions = {"base": args.base, "head": args.head}
    try:
        for side in ("base", "head"):
            if revisions[side] is None:
                continue
            if trees[side].exists():
                subprocess.run(["git", "worktree", "remove", "--force", str(trees[side])], cwd=REPO, check=False)
            subprocess.run(["git", "worktree", "add", "--detach", str(trees[side]), revisions[side]], cwd=REPO,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"base {args.base}: curating in {work / 'base'}", flush=True)
        base_source, base_out = run_revision(trees["base"], work / "base", args)
        print(f"{args.head or 'this working tree'}: curating in {work / 'head'}", flush=True)
        head_source, head_out = run_revision(trees["head"], work / "head", args)
    finally:
        for side in ("base", "head"):
            if revisions[side] is not None:
                subprocess.run(["git", "worktree", "remove", "--force", str(trees[side])], cwd=REPO, check=False)
    problems = compare("source", tree_digests(base_source), tree_digests(head_source))
    problems += compare("out", tree_digests(base_out), tree_digests(head_out))
    for problem in problems:
        print(problem)
    print("byte-identical" if not problems else f"{len(problems)} differences")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
