#!/usr/bin/env bash
# crumb-bench's TFLite benchmark_model flags end to end on a tests/data model converted with
# crumb-convert: the timing lines, --max_secs cutting a huge --num_runs short, --min_secs,
# --input_layer_shape (and its --input_shape alias), the CSV / JSON / SVG reports (they exist and
# parse), --report_peak_memory_footprint's lines, no progress lines on a short run into a pipe,
# --memory_limit, and the errors (unknown flag, bad values, an unwritable report path).
#
# usage: bench_flags_test.sh   with CRUMB_BENCH and CRUMB_CONVERT set to the built tools.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
: "${CRUMB_BENCH:?set CRUMB_BENCH to crumb-bench}"
: "${CRUMB_CONVERT:?set CRUMB_CONVERT to crumb-convert}"
PYTHON=${PYTHON:-python3}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# bench NAME ARGS...: runs crumb-bench, stdout in $work/NAME.out, stderr in $work/NAME.err.
bench() {
  local name=$1
  shift
  if ! "$CRUMB_BENCH" "$@" >"$work/$name.out" 2>"$work/$name.err"; then
    fail "$name: crumb-bench $* failed:"
    cat "$work/$name.out" "$work/$name.err"
    return 1
  fi
}
has() { grep -qE -- "$2" "$work/$1.out" || fail "$1: no line matching '$2'"; }

m=$work/smallcnn_w2a2.crumb
"$CRUMB_CONVERT" "$repo/tests/data/smallcnn_w2a2/folded.onnx" -o "$m" --quiet

# benchmark_model's lines.
if bench plain --graph="$m" --num_runs=5 --warmup_runs=2 --num_threads=1; then
  has plain '^Min num runs: \[5\]$'
  has plain '^Max runs duration \(seconds\): \[150\]$'
  has plain '^Initialized session in [0-9.]+ms\.$'
  has plain '^count=2 first=[0-9]+ curr=[0-9]+ min=[0-9]+ max=[0-9]+ avg=[0-9.e+]+ std=[0-9]+$'
  has plain '^count=5 first=[0-9]+ curr=[0-9]+ min=[0-9]+ max=[0-9]+ avg=[0-9.e+]+ std=[0-9]+$'
  has plain '^Inference timings in us: Init: [0-9]+, First inference: [0-9]+, Warmup \(avg\): [0-9.e+]+, Inference \(avg\): [0-9.e+]+$'
  has plain '^Memory footprint delta from the start of the tool \(MB\): init=[0-9.e+-]+ overall=[0-9.e+-]+$'
  # A short run into a file: no progress lines, nothing on stderr.
  [[ -s $work/plain.err ]] && fail "plain: stderr is not empty: $(head -3 "$work/plain.err")"
fi

# --max_secs stops a run that --num_runs alone would make last for hours.
start=$(date +%s.%N)
if bench maxsecs --graph="$m" --num_runs=1000000000 --warmup_runs=1 --max_secs=0.2; then
  took=$("$PYTHON" -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
  "$PYTHON" -c "import sys; sys.exit(0 if float(sys.argv[1]) < 5 else 1)" "$took" ||
    fail "maxsecs: --max_secs=0.2 took ${took}s"
  has maxsecs '^Stopped after [0-9]+ of 1000000000 runs: --max_secs=0.2 reached\.$'
  has maxsecs '^Max runs duration \(seconds\): \[0.2\]$'
fi

# --min_secs runs on past --num_runs.
if bench minsecs --graph="$m" --num_runs=1 --min_secs=0.1; then
  n=$(grep -E '^count=' "$work/minsecs.out" | tail -1 | sed -E 's/^count=([0-9]+).*/\1/')
  [[ $n -gt 1 ]] || fail "minsecs: --min_secs=0.1 with --num_runs=1 ran $n time(s)"
fi

# --input_layer_shape (benchmark_model's spelling) and --input_shape (the alias): logical NCHW.
# The digits model's batch is dynamic; smallcnn's is fixed at 1 (a message, no crash).
d=$work/digits_w2a4.crumb
"$CRUMB_CONVERT" "$repo/tests/data/digits_w2a4/qcdq.onnx" -o "$d" --quiet
for flag in input_layer_shape input_shape; do
  if bench "$flag" --graph="$d" --num_runs=2 --$flag=4,1,8,8 --output_json="$work/$flag.json"; then
    has "$flag" '^Input shapes: \[4,1,8,8\]$'
    grep -q '"input_layer_shape": "4,1,8,8"' "$work/$flag.json" || fail "$flag: not in the JSON"
  fi
done
bench batch1 --graph="$d" --num_runs=2 --output_json="$work/batch1.json" &&
  "$PYTHON" -c "
import json, sys
a, b = (json.load(open(f))['memory']['arena_bytes'] for f in sys.argv[1:])
assert a < b, (a, b)
" "$work/batch1.json" "$work/input_layer_shape.json" ||
  fail "the arena did not grow from batch 1 to batch 4"
if "$CRUMB_BENCH" --graph="$m" --input_layer_shape=1,3,16,16:1,3,16,16 >"$work/o" 2>&1; then
  fail "two shapes for a one-input model succeeded"
fi
grep -q "input(s)" "$work/o" || fail "two shapes for one input: no message: $(cat "$work/o")"

# Reports: CSV, JSON, SVG (the profile files turn op profiling on by themselves).
csv=$work/prof.csv json=$work/out.json svg=$work/prof.svg
if bench reports --graph="$m" --num_runs=5 --profiling_output_csv_file="$csv" \
  --output_json="$json" --profiling_output_svg="$svg" --report_peak_memory_footprint; then
  has reports 'Operator-wise Profiling Info for Regular Benchmark Runs'
  has reports 'Summary by kernel family'
  has reports '^Overall peak memory footprint \(MB\): [0-9.e+]+ \(VmHWM\), [0-9.e+]+ \(getrusage ru_maxrss\)$'
  has reports '^Interpreter memory \(bytes\): [0-9]+ '
  ops=$(grep -cE '^ +[0-9]+ [A-Z_0-9]+ ' "$work/reports.out" || true)
  [[ -s $csv && -s $json && -s $svg ]] || fail "reports: a report file is missing"
  ls "$work" | grep -q '\.tmp' && fail "reports: a temporary file was left behind"
  "$PYTHON" - "$csv" "$json" "$ops" <<'EOF' || fail "reports: the CSV / JSON do not check out"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ops = int(sys.argv[3])
assert len(rows) == ops > 0, (len(rows), ops)
for k in ("index", "node type", "name", "kernel", "family", "first", "avg_ms", "%", "cdf%",
          "times called"):
    assert k in rows[0], k
assert [int(r["index"]) for r in rows] == list(range(ops))
assert abs(float(rows[-1]["cdf%"]) - 100) < 0.1, rows[-1]["cdf%"]
j = json.load(open(sys.argv[2]))
assert j["timings_us"]["inference"]["count"] == 5, j["timings_us"]
assert j["timings_us"]["init"] > 0 and j["timings_us"]["first_inference"] > 0
assert j["memory"]["arena_bytes"] > 0 and j["memory"]["peak_rss_bytes"] > 0
assert len(j["ops"]) == ops and "avg_ms" in j["ops"][0]
assert j["op_profiling"] and j["by_type"] and j["by_family"]
assert any(op["family"] for op in j["ops"]), "no Conv / FC op with a family"
EOF
  grep -q "<svg" "$svg" || fail "reports: no <svg in $svg"
  "$PYTHON" -c "import sys, xml.dom.minidom as m; m.parse(sys.argv[1])" "$svg" ||
    fail "reports: $svg is not well-formed XML"
  bars=$(grep -c '<rect x="[0-9]' "$svg" || true)
  [[ $bars -ge $ops ]] || fail "reports: $bars bars in the SVG for $ops ops"
fi

# JSON without profiling: still every op (kernel, family), without times.
if bench json_noprof --graph="$m" --num_runs=2 --output_json="$json"; then
  "$PYTHON" -c "
import json, sys
j = json.load(open(sys.argv[1]))
assert not j['op_profiling'] and j['ops'] and 'avg_ms' not in j['ops'][0]
" "$json" || fail "json_noprof: unexpected JSON"
fi

# Progress on a terminal (util-linux script gives crumb-bench one): a line every 2 s.
if command -v script >/dev/null 2>&1; then
  script -qec "'$CRUMB_BENCH' --graph='$m' --num_runs=1000000000 --max_secs=2.5 >/dev/null" \
    "$work/tty.log" >/dev/null 2>&1 </dev/null || fail "progress: crumb-bench under script failed"
  grep -qE 'crumb-bench: run [0-9]+/1000000000, avg [0-9.]+ ms' "$work/tty.log" ||
    fail "progress: no progress line on a terminal: $(head -c 300 "$work/tty.log")"
fi

# Errors: a clear message and a non-zero exit.
expect_error() {
  local what=$1 pattern=$2
  shift 2
  if "$CRUMB_BENCH" "$@" >"$work/err.out" 2>&1; then
    fail "$what: succeeded"
  elif ! grep -qE -- "$pattern" "$work/err.out"; then
    fail "$what: no message matching '$pattern': $(cat "$work/err.out")"
  fi
}
expect_error "unknown flag" "Unknown flag --num_run\. See crumb-bench --help" --graph="$m" --num_run=5
expect_error "bad --max_secs" "--max_secs needs a number of seconds" --graph="$m" --max_secs=soon
expect_error "negative --min_secs" "--min_secs needs" --graph="$m" --min_secs=-1
expect_error "bad shape" "is not a shape" --graph="$m" --input_layer_shape=1,3,x
expect_error "fixed batch" "fixed at 1" --graph="$m" --input_layer_shape=2,3,16,16
expect_error "conflicting shapes" "same flag" --graph="$m" --input_layer_shape=1,3,16,16 \
  --input_shape=2,3,16,16
expect_error "unwritable CSV" "Cannot" --graph="$m" --num_runs=1 \
  --profiling_output_csv_file="$work/no/such/dir/p.csv"
expect_error "memory limit too small" "needed [0-9]+ bytes, limit 1024" --graph="$m" \
  --memory_limit=1K
expect_error "bad --memory_limit" "is not a byte count" --graph="$m" --memory_limit=12X
bench memory_limit --graph="$m" --num_runs=1 --memory_limit=64M && has memory_limit "Inference timings"
expect_error "reports with --tune" "drop the report flags" --graph="$m" --tune="$work/t.crumb" \
  --output_json="$json"

# --help documents every flag it accepts.
"$CRUMB_BENCH" --help >"$work/help.txt"
for f in graph num_threads warmup_runs num_runs min_secs max_secs input_layer_shape input_shape \
  enable_op_profiling profiling_output_csv_file report_peak_memory_footprint output_json \
  profiling_output_svg isa kernel_family tune tune_rounds memory_limit help; do
  grep -q -- "--$f" "$work/help.txt" || fail "--help does not mention --$f"
done
grep -q "NCHW" "$work/help.txt" || fail "--help does not say the shape is NCHW"

if [[ $failures -ne 0 ]]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "bench_flags_test: OK"
