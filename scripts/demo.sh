#!/usr/bin/env bash
# `make demo`: synthetic STARSS-style recordings → a real Prefect server and worker → `curate/demo`.
# Starts what it needs and stops it again, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.venv/bin"
DEMO="$PWD/demo"
PORT="${SAVGBENCH_DEMO_PORT:-4242}"
export PREFECT_HOME="$DEMO/.prefect"
export PREFECT_API_URL="http://127.0.0.1:$PORT/api"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_UI_ENABLED="${PREFECT_UI_ENABLED:-true}"
mkdir -p "$DEMO"

server_pid=""; worker_pid=""
healthy() { "$BIN/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$PREFECT_API_URL/health" >/dev/null 2>&1; }
stop() {
  # A process worker needs SIGTERM twice to stop; the server once.
  if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then
    kill -TERM "$worker_pid" 2>/dev/null || true; sleep 1; kill -TERM "$worker_pid" 2>/dev/null || true
    wait "$worker_pid" 2>/dev/null || true
  fi
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true
  fi
}
trap stop EXIT INT TERM

echo "== 1/5 synthetic STARSS23-style recordings -> demo/source"
rm -rf "$DEMO/source" "$DEMO/out"
"$BIN/savgbench" synth "$DEMO/source" --recordings "${DEMO_RECORDINGS:-3}" --duration-s "${DEMO_DURATION_S:-20}"

echo "== 2/5 Prefect server on 127.0.0.1:$PORT (SQLite in demo/.prefect; log demo/server.log)"
"$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" >"$DEMO/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 90); do
  if healthy; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { echo "server failed to start:"; tail -20 "$DEMO/server.log"; exit 1; }
  sleep 1
done
healthy || { echo "server did not come up in 90 s:"; tail -20 "$DEMO/server.log"; exit 1; }

echo "== 3/5 work pool, deployments, worker (log demo/worker.log)"
"$BIN/prefect" work-pool inspect savgbench-local >/dev/null 2>&1 \
  || "$BIN/prefect" work-pool create savgbench-local --type process >/dev/null
"$BIN/prefect" --no-prompt deploy --all >"$DEMO/deploy.log" 2>&1 || { cat "$DEMO/deploy.log"; exit 1; }
"$BIN/prefect" worker start --pool savgbench-local >"$DEMO/worker.log" 2>&1 &
worker_pid=$!

echo "== 4/5 prefect deployment run curate/demo --watch"
"$BIN/prefect" deployment run curate/demo --watch

echo "== 5/5 done"
echo "manifests: $DEMO/out/manifests/{recordings,clips,events,rejects}.parquet"
echo "splits:    $DEMO/out/splits/{generation,evaluation}.txt"
echo "report:    $DEMO/out/report/summary.md"
cat "$DEMO/out/report/summary.md"
echo "To browse the run in the Prefect UI, start the server again and open http://127.0.0.1:$PORT :"
echo "  PREFECT_HOME=$PREFECT_HOME $BIN/prefect server start --port $PORT"
echo "audit page (open it in a browser: funnel, class balance, plots, contact sheets):"
echo "  $DEMO/out/report/index.html"
