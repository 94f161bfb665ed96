#!/usr/bin/env bash
# The API side by side with the previous FastAPI stack: ../shared/bench/run_bench.sh with Vanguard as target.
# A benchmark that prints figures (requests/s, p50/p99, and the django / peer ratios), not a test.
#
#   bench/api_vs_peer.sh                       # 3 interleaved repetitions x 10 s (about 15 minutes)
#   REPS=1 DURATION=3 bench/api_vs_peer.sh     # wiring check only: its figures mean nothing
#
# Vanguard runs as it is deployed: gunicorn with uvicorn workers (the bench's shared gunicorn config), DEBUG
# off, Redis for cache, rate-limit counters and the Celery broker (REDIS_URL, db 3, flushed before the run;
# no worker consumes it, so the enqueued e-mails wait there), rate limits far above the load. The login is a
# staff user in "Customer service" and "Claims adjuster" (not a superuser: permission checks and PII masking
# run as for real staff). Data: `seed --no-demo --customers 10000 --as-of 2024-12-31` (most terms then cover the
# bench claim's incident, 2024-06-15, as all of the peer's do); `--ids-dir` writes the ids files the bench
# sends (policies.txt: active or expired policies whose term covers the bench claim's incident).
#
# After the figures it prints each worker's resident memory as its repetition ended (bench/serve_and_report.sh
# reads it before the server stops) and runs `manage.py verify_audit_chain` on the bench database, which must
# pass: the chain written under load is checked, not assumed. The bench's throwaway PostgreSQL is kept up for
# that check (KEEP_PG=1) and stopped here afterwards when this script started it.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH="${BENCH:-$(cd ../shared/bench 2>/dev/null && pwd)}"
[ -x "$BENCH/run_bench.sh" ] || { echo "run_bench.sh not found; set BENCH=/path/to/shared/bench" >&2; exit 2; }

export TARGET_NAME=django TARGET_DIR="$PWD"
export TARGET_LIST_QUERY='page=1&page_size=50'
export TARGET_DB="${TARGET_DB:-vanguard_target}" TARGET_IDS_DIR="${TARGET_IDS_DIR:-/tmp/bench-target-ids}"
export DJANGO_ENV=development DJANGO_DEBUG=false ALLOWED_HOSTS=127.0.0.1,localhost \
       API_RATE_LIMIT_USER=10000000/m API_RATE_LIMIT_ANON=10000000/m LOG_LEVEL=WARNING
export REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379/3}"
export BENCH_EMAIL=bench@vanguard.example.com BENCH_PASSWORD='Bench-Passw0rd!2024'
export DJ_VENV="${DJ_VENV:-/tmp/dj-venv}"

export TARGET_SETUP="$(cat <<'SETUP'
set -e
test -x "$DJ_VENV/bin/python" || python3 -m venv "$DJ_VENV"
"$DJ_VENV/bin/pip" install -q -e .
redis-cli -u "$REDIS_URL" flushdb >/dev/null
"$DJ_VENV/bin/python" manage.py migrate --noinput -v 0
"$DJ_VENV/bin/python" manage.py seed --no-demo --customers 10000 --random-seed 7 --as-of 2024-12-31 \
    --ids-dir "$TARGET_IDS_DIR" -v 1
"$DJ_VENV/bin/python" manage.py shell -c "
import os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
u = get_user_model().objects.create_user(email=os.environ['BENCH_EMAIL'], password=os.environ['BENCH_PASSWORD'],
                                         full_name='Bench User', is_staff=True)
u.groups.set(Group.objects.filter(name__in=['Customer service', 'Claims adjuster']))
"
SETUP
)"

export TARGET_CMD='exec bench/serve_and_report.sh'

export TARGET_TOKEN_CMD='curl -sf "$TARGET_URL/api/auth/login" -H "Content-Type: application/json" \
  -d "{\"email\": \"$BENCH_EMAIL\", \"password\": \"$BENCH_PASSWORD\"}" |
  python3 -c "import json, sys; print(json.load(sys.stdin)[\"access_token\"])"'

export RESULTS_DIR="${RESULTS_DIR:-$BENCH/results/$(date +%Y%m%d-%H%M%S)}" BENCH_RSS_FILE
BENCH_RSS_FILE="$RESULTS_DIR/target_rss.txt"
mkdir -p "$RESULTS_DIR"
# shellcheck source=/dev/null
source "$BENCH/lib/pg.sh"
pg_was_up=0
"$PG_BIN/pg_isready" -q -h "$PGHOST" -p "$PGPORT" && pg_was_up=1
stop_pg() { [ "$pg_was_up" = 1 ] || PG_STARTED_BY_US=1 pg_down; }
trap stop_pg EXIT
KEEP_PG=1 "$BENCH/run_bench.sh"

echo
python3 bench/rss_report.py "$RESULTS_DIR" django "${WORKERS:-2}" | tee "$RESULTS_DIR/rss.md"
echo
echo "==> verify_audit_chain on the bench database ($TARGET_DB)"
DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$TARGET_DB" "$DJ_VENV/bin/python" manage.py verify_audit_chain \
    | tee "$RESULTS_DIR/verify_audit_chain.txt"
