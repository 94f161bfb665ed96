#!/usr/bin/env bash
# CPU per request, by process: where a request's cost lands (the API worker, PostgreSQL, Redis), under load.
# A benchmark that prints figures, not a test. Throughput on a shared 2-core machine is bounded by the CPU that
# one request costs across all three (wrk takes the rest), so this says which side a change must shrink.
#
#   ENDPOINT=/api/customers/<id> TOKEN=<bearer> bench/cpu_per_request.sh
#   METHOD=POST BODY='{"email": "c-%n@example.com", ...}' ENDPOINT=/api/customers TOKEN=... bench/cpu_per_request.sh
#   IDS=/tmp/ids/policies.txt METHOD=POST BODY='{"policy_id": "%id", ...}' ENDPOINT=/api/claims TOKEN=... bench/cpu_per_request.sh
#
# Knobs: APP [vanguard.asgi:application] PYTHON [.venv/bin/python] PORT [18019] WORKERS [1] DURATION [10]
#        CONNECTIONS [16] IDS [none]. The server gets the caller's environment (DATABASE_URL, REDIS_URL, keys...).
# In BODY, %n becomes a per-request counter (unique creations); in BODY and ENDPOINT, %id a random line of IDS
# (the seed's --ids-dir files), so writes spread over many rows as the real bench's do rather than queueing on
# one row's lock.
# CPU is read from /proc (utime + stime of the worker processes, of every postgres process, of redis-server)
# before and after the run; the figures are milliseconds of CPU per completed request.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${APP:=vanguard.asgi:application}" "${PYTHON:=.venv/bin/python}" "${PORT:=18019}" "${WORKERS:=1}"
: "${DURATION:=10}" "${CONNECTIONS:=16}" "${METHOD:=GET}" "${BODY:=}"
[ -n "${ENDPOINT:-}" ] || { echo "set ENDPOINT (and TOKEN for authenticated paths)" >&2; exit 2; }
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
OUT="$(mktemp -d)"
GUNI="$(dirname "$PYTHON")/gunicorn"
# The product's own gunicorn.conf.py (what operators run), without worker recycling during the run.
WEB_CONCURRENCY="$WORKERS" BIND="127.0.0.1:$PORT" GUNICORN_MAX_REQUESTS=0 GUNICORN_LOG_LEVEL=warning \
  setsid "$GUNI" -c gunicorn.conf.py "$APP" >"$OUT/server.log" 2>&1 &
master=$!
trap 'kill -- -$master 2>/dev/null || true; rm -rf "$OUT"' EXIT
for _ in $(seq 60); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.5; done
AUTH_LINE=""
[ -n "${TOKEN:-}" ] && AUTH_LINE="wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
cat >"$OUT/req.lua" <<LUA
local n = 0
math.randomseed(os.time())  -- the warm-up and the measured run (and earlier runs) must not repeat e-mails
local ids = {}
if "${IDS:-}" ~= "" then for line in io.lines("${IDS:-}") do ids[#ids + 1] = line end end
local function fill(text)
  text = text:gsub("%%n", tostring(n) .. "-" .. tostring(math.random(1e9)))
  if #ids > 0 then text = text:gsub("%%id", ids[math.random(#ids)]) end
  return text
end
wrk.method = "$METHOD"
wrk.headers["Content-Type"] = "application/json"
$AUTH_LINE
request = function()
  n = n + 1
  local body = [[$BODY]]
  if body == "" then return wrk.format(nil, fill("$ENDPOINT")) end
  return wrk.format(nil, fill("$ENDPOINT"), nil, fill(body))
end
done = function(summary, latency, requests)
  io.write(string.format("WRK %d %d %d\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(99)))
end
LUA
wrk -t1 -c"$CONNECTIONS" -d2s -s "$OUT/req.lua" "http://127.0.0.1:$PORT" >/dev/null   # warm-up
ticks() {  # summed utime and stime (clock ticks) of the given pids: "user,system"
  local u=0 s=0 p line
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    line=$(awk '{sub(/.*\) /, ""); print $12, $13}' "/proc/$p/stat")
    u=$((u + ${line% *})) s=$((s + ${line#* }))
  done
  echo "$u,$s"
}
snapshot() {
  echo "$(ticks $(pgrep -P "$master")) $(ticks $(pgrep -x postgres)) $(ticks $(pgrep -x redis-server))"
}
read -r w0 p0 r0 <<<"$(snapshot)"
line=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$OUT/req.lua" "http://127.0.0.1:$PORT" | grep '^WRK')
read -r w1 p1 r1 <<<"$(snapshot)"
read -r _ n errors p99 <<<"$line"
hz=$(getconf CLK_TCK)
python3 - "$n" "$errors" "$p99" "$DURATION" "$hz" "$w0" "$w1" "$p0" "$p1" "$r0" "$r1" <<'PY'
import sys
n, errors, p99, duration, hz = (int(x) for x in sys.argv[1:6])
w0, w1, p0, p1, r0, r1 = ([int(t) for t in x.split(",")] for x in sys.argv[6:])
def ms(a, b):  # (user, system) ms of CPU per request between two snapshots
    return [1000.0 * (y - x) / hz / max(n, 1) for x, y in zip(a, b)]
w, p, r = ms(w0, w1), ms(p0, p1), ms(r0, r1)
print(f"requests {n} ({n / duration:.0f}/s), errors/non-2xx {errors}, p99 {p99 / 1000:.1f} ms")
print("CPU ms per request (user + system): "
      f"worker {w[0]:.2f} + {w[1]:.2f}  postgres {p[0]:.2f} + {p[1]:.2f}  redis {r[0]:.2f} + {r[1]:.2f}  "
      f"total {sum(w) + sum(p) + sum(r):.2f}")
PY
