#!/usr/bin/env bash
# The server command of bench/api_vs_peer.sh: gunicorn as the bench configures it, plus one report. When the
# bench stops the server (TERM), the resident memory (VmRSS) of every worker is appended to $BENCH_RSS_FILE
# ("<unix time> <worker pid> <kB>") before gunicorn is asked to stop, so the figure is the worker's after the
# whole repetition's load, not after a restart.
set -u
: "${BENCH_RSS_FILE:?}" "${DJ_VENV:?}" "${GUNICORN_CONF:?}"
# Its own session: the bench's TERM to our process group must reach us first, not the workers.
setsid "$DJ_VENV/bin/gunicorn" -c "$GUNICORN_CONF" -k uvicorn_worker.UvicornWorker vanguard.asgi:application &
master=$!
stop() {
    local worker kb
    for worker in $(pgrep -P "$master"); do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$worker/status" 2>/dev/null) && echo "$(date +%s) $worker $kb" >>"$BENCH_RSS_FILE"
    done
    kill -TERM "$master" 2>/dev/null
    wait "$master"
    exit 0
}
trap stop TERM INT
trap 'kill -TERM "$master" 2>/dev/null' EXIT
wait "$master"
