#!/usr/bin/env bash
# crumb-bench --tune end to end: converts tests/data models with crumb-convert, tunes them on this
# CPU (every ISA it has among auto / avx2 / scalar), and checks that the tuned file exists, that
# crumb-bench --enable_op_profiling reports its Conv ops as tuned, that crumb-run gives the same
# output bytes as on the original, that the original is untouched, and the errors (output = input,
# --kernel_family with --tune).
#
# usage: tune_test.sh   with CRUMB_BENCH, CRUMB_RUN, CRUMB_CONVERT set to the built tools.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
: "${CRUMB_BENCH:?set CRUMB_BENCH to crumb-bench}"
: "${CRUMB_RUN:?set CRUMB_RUN to crumb-run}"
: "${CRUMB_CONVERT:?set CRUMB_CONVERT to crumb-convert}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

isas=(auto)
grep -qw avx2 /proc/cpuinfo 2>/dev/null && isas+=(avx2)
isas+=(scalar)

for model in smallcnn_w2a2 smallcnn_w4a4; do
  dir=$repo/tests/data/$model
  m=$work/$model.crumb
  "$CRUMB_CONVERT" "$dir/folded.onnx" -o "$m" --quiet
  sum_before=$(cksum <"$m")
  "$CRUMB_RUN" "$m" --input "$dir/io/sample0.input.bin" --output "$work/$model.ref.bin"
  for isa in "${isas[@]}"; do
    name="$model --isa=$isa"
    t=$work/$model.$isa.tuned.crumb
    if ! "$CRUMB_BENCH" --graph="$m" --tune="$t" --num_runs=2 --tune_rounds=2 --isa="$isa" \
      >"$work/tune.txt" 2>&1; then
      fail "$name: crumb-bench --tune failed:"
      cat "$work/tune.txt"
      continue
    fi
    grep -q "^Tune: verification" "$work/tune.txt" || fail "$name: no verification line"
    grep -q "^Tune: wrote " "$work/tune.txt" || fail "$name: no 'wrote' line"
    [[ -s $t ]] || {
      fail "$name: $t was not written"
      continue
    }
    [[ $(cksum <"$m") == "$sum_before" ]] || fail "$name: the original file changed"
    ls "$work" | grep -q '\.tmp' && fail "$name: a temporary file was left behind"

    "$CRUMB_BENCH" --graph="$t" --num_runs=1 --enable_op_profiling --isa="$isa" >"$work/prof.txt"
    # Every Conv / FC op's family line says tuned, on the ISA it was tuned on.
    convs=$(grep -cE '^ +[0-9]+ (CONV_2D|FULLY_CONNECTED) ' "$work/prof.txt" || true)
    tuned=$(grep -c "tuned (crumb-bench --tune on " "$work/prof.txt" || true)
    [[ $convs -gt 0 && $tuned -eq $convs ]] ||
      fail "$name: $tuned of $convs Conv / FC ops report 'tuned (crumb-bench --tune on ...)'"

    "$CRUMB_RUN" "$t" --input "$dir/io/sample0.input.bin" --output "$work/out.bin"
    cmp -s "$work/out.bin" "$work/$model.ref.bin" ||
      fail "$name: crumb-run outputs of the tuned file differ from the original's"
    "$CRUMB_RUN" "$t" --isa=scalar --input "$dir/io/sample0.input.bin" --output "$work/out.bin"
    cmp -s "$work/out.bin" "$work/$model.ref.bin" ||
      fail "$name: crumb-run --isa=scalar outputs of the tuned file differ from the original's"
  done
done

# Errors: never overwrite the input; --kernel_family makes no sense with --tune.
m=$work/smallcnn_w2a2.crumb
sum_before=$(cksum <"$m")
if "$CRUMB_BENCH" --graph="$m" --tune="$m" --num_runs=1 --tune_rounds=1 >/dev/null 2>&1; then
  fail "--tune=<the input file> succeeded"
fi
[[ $(cksum <"$m") == "$sum_before" ]] || fail "--tune=<the input file> changed the input"
if "$CRUMB_BENCH" --graph="$m" --tune="$work/x.crumb" --kernel_family=lut >/dev/null 2>&1; then
  fail "--tune with --kernel_family succeeded"
fi
[[ -e $work/x.crumb ]] && fail "--tune with --kernel_family wrote a file"

if [[ $failures -ne 0 ]]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "tune_test: OK (${isas[*]})"
