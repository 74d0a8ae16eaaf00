#!/usr/bin/env bash
# HTTP throughput/latency of nereid's infer endpoint beside nginx serving a
# fixed 200, same machine, same run, loopback only, bounded duration.
#
#   bench/http_bench.sh [seconds per run, default 10] [rounds, default 3]
#
# Needs: build/nereid (scripts/build.sh release nereid), wrk, nginx.
# Writes bench/out/http_bench.md and prints it. Runs alternate nereid/nginx
# so both see the same machine noise; the table reports each round.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
ROUNDS="${2:-3}"
CONNS=16
OUT=bench/out
mkdir -p "$OUT"
NEREID_PORT=18000
NGINX_PORT=18080

work=$(mktemp -d)
cleanup() {
  [ -n "${NEREID_PID:-}" ] && kill "$NEREID_PID" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx_error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { return 200 "ok"; }
  }
}
CONF
nginx -c "$work/nginx.conf"

build/nereid serve --model-repository examples/model_repository --http-address 127.0.0.1 \
  --http-port "$NEREID_PORT" --log-info=false > "$work/nereid.out" 2> "$work/nereid.err" &
NEREID_PID=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$NEREID_PORT/v2/health/ready" >/dev/null && break
  sleep 0.1
done

run_wrk() {  # url script -> "rps p50_ms p99_ms"
  wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -s "$2" "$1" > "$work/wrk.txt"
  awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    /Non-2xx/ {bad=$NF}
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    END { printf "%.0f %.3f %.3f %s\n", rps, ms(p50), ms(p99), (bad==""?0:bad) }' "$work/wrk.txt"
}

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "| round | server | requests/s | p50 ms | p99 ms | non-2xx | nereid/nginx |"
  echo "|---|---|---|---|---|---|---|"
} > "$OUT/rows.md"
sum_ratio=0
for r in $(seq 1 "$ROUNDS"); do
  read -r n_rps n_p50 n_p99 n_bad < <(run_wrk "http://127.0.0.1:$NEREID_PORT" bench/infer_identity.lua)
  read -r b_rps b_p50 b_p99 b_bad < <(run_wrk "http://127.0.0.1:$NEREID_PORT" bench/infer_identity_binary.lua)
  read -r x_rps x_p50 x_p99 x_bad < <(run_wrk "http://127.0.0.1:$NGINX_PORT" bench/post_ok.lua)
  ratio=$(awk -v a="$n_rps" -v b="$x_rps" 'BEGIN{printf "%.2f", a/b}')
  bratio=$(awk -v a="$b_rps" -v b="$x_rps" 'BEGIN{printf "%.2f", a/b}')
  echo "| $r | nereid infer (JSON) | $n_rps | $n_p50 | $n_p99 | $n_bad | $ratio |" >> "$OUT/rows.md"
  echo "| $r | nereid infer (binary) | $b_rps | $b_p50 | $b_p99 | $b_bad | $bratio |" >> "$OUT/rows.md"
  echo "| $r | nginx return 200 | $x_rps | $x_p50 | $x_p99 | $x_bad | 1.00 |" >> "$OUT/rows.md"
done
{
  echo "HTTP infer benchmark, $(date -u +%Y-%m-%d), commit $commit, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
  echo
  echo "Command: \`bench/http_bench.sh $DUR $ROUNDS\` (wrk -t2 -c$CONNS -d${DUR}s --latency, loopback; nginx 2 workers)"
  echo
  cat "$OUT/rows.md"
} > "$OUT/http_bench.md"
cat "$OUT/http_bench.md"
