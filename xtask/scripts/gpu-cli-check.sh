#!/usr/bin/env bash
# The vc6 command-line tool: `info --backends`, then every fixture stream (LoQ 0 and 1)
# and the 4K picture (lossless and 1.25 bpp, LoQ 0 and 2) decoded with --backend cpu and
# --backend cuda to raw samples, compared with cmp. Made by `cargo xtask gpu-bundle`.
set -u
VC6=$1 ROOT=$2 PICTURE=$3 WORK=$4
mkdir -p "$WORK"
checks=0 failed=0 skipped=0

echo "-- vc6 info --backends"
"$VC6" info --backends || { echo "FAIL: vc6 info --backends (rc $?)"; failed=$((failed + 1)); }

# check STREAM LOQ: decode on both backends, compare
check() {
    local s=$1 loq=$2 base
    base="$WORK/$(basename "$s" .vc6)-loq$loq"
    checks=$((checks + 1))
    if ! "$VC6" decode "$s" --loq "$loq" --backend cpu --quiet -o "$base.cpu.raw" 2>"$base.cpu.err"; then
        echo "skip $(basename "$s") LoQ $loq: the CPU refuses it: $(tail -1 "$base.cpu.err")"
        skipped=$((skipped + 1)); return
    fi
    if ! "$VC6" decode "$s" --loq "$loq" --backend cuda --verbose -o "$base.cuda.raw" >"$base.cuda.out" 2>&1; then
        echo "FAIL $(basename "$s") LoQ $loq: --backend cuda: $(tail -3 "$base.cuda.out" | tr '\n' ' ')"
        failed=$((failed + 1)); return
    fi
    if cmp -s "$base.cpu.raw" "$base.cuda.raw"; then
        echo "ok   $(basename "$s") LoQ $loq: $(stat -c %s "$base.cuda.raw") bytes equal ($(grep -m1 -i 'backend' "$base.cuda.out" | tr -s ' '))"
    else
        echo "FAIL $(basename "$s") LoQ $loq: cuda differs from cpu: $(cmp "$base.cpu.raw" "$base.cuda.raw" 2>&1 | head -1)"
        failed=$((failed + 1))
    fi
}

echo "-- fixture streams"
for s in "$ROOT"/fixtures/conformance/*.vc6; do
    for loq in 0 1; do check "$s" "$loq"; done
done

echo "-- the 4K picture $(basename "$PICTURE")"
if "$VC6" encode "$PICTURE" -o "$WORK/picture-lossless.vc6" --quiet; then
    for loq in 0 2; do check "$WORK/picture-lossless.vc6" "$loq"; done
else
    echo "FAIL: encoding $PICTURE lossless"; failed=$((failed + 1))
fi
if "$VC6" encode "$PICTURE" -o "$WORK/picture-lossy.vc6" --bpp 1.25 --quiet; then
    for loq in 0 2; do check "$WORK/picture-lossy.vc6" "$loq"; done
else
    echo "FAIL: encoding $PICTURE at 1.25 bpp"; failed=$((failed + 1))
fi

echo "cli: $checks decodes compared, $failed failed, $skipped skipped (the CPU refuses them)"
[ "$failed" -eq 0 ]
