#!/usr/bin/env bash
# vc6's CUDA checks on a GPU machine without Rust. Made by `cargo xtask gpu-bundle`.
#
#   bash target/gpu-bundle/run.sh [STAGE...]      # in the repository root of the copy
#
# Stages (default: all, in this order): cuda-tests backends-test conformance cli bench
#   cuda-tests     vc6-cuda's test binaries: @CUDA_TESTS@
#   backends-test  vc6's shared backend suite (tests/backends.rs), --test-threads=2
#   conformance    vc6's conformance test (fixtures/conformance.txt) on every backend
#   cli            `vc6 info --backends`; `vc6 decode --backend cuda` of the fixture
#                  streams and of the 4K picture (lossless, 1.25 bpp), cmp against cpu
#   bench          `backends --matrix` on pictures/@PICTURE@ (and its 1080p crop)
#
# Every stage runs (a failure does not stop the others), each under `timeout`, its output
# teed into $OUT/<stage>.log (a temporary folder when OUT is unset); a summary of the
# stages and their exit statuses ends the run; the exit status is 1 when any failed.
#
# Environment (all optional):
#   RUN_BUDGET_S    seconds for the whole run (default 540); a stage gets at most what is
#                   left, and one with less than 20 s left is skipped
#   T_CUDA_TEST T_BACKENDS_TEST T_CONFORMANCE T_CLI T_BENCH   per-stage timeouts, seconds
#                   (defaults 90 per cuda test binary, 180, 60, 90, 420)
#   BENCH_BATCHES   the matrix's batch sizes (default 1,32,256)
#   BENCH_BACKENDS  the backends the benchmark measures (default cpu,cuda, plus opencl
#                   when `vc6 info --backends` finds an OpenCL device other than PoCL);
#                   naming cuda makes the benchmark stop at once where CUDA cannot run
#   BENCH_ARGS      more arguments for the benchmark (e.g. "--quick", "--runs 1",
#                   "--max-batch-bytes 16G")
#   VC6_CUDA_LANES, VC6_CUDA_PINNED, VC6_CUDA_BATCH_MEMORY, VC6_CUDA_TRACE   reach the
#                   backend as they are: `VC6_CUDA_LANES=1 bash run.sh bench` against the
#                   default (3 lanes) measures what the pipelined batches gain, and
#                   `VC6_CUDA_PINNED=0` what pinned copies gain, with no rebuild
set -u

BUNDLE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BUNDLE/../.." && pwd)"
cd "$ROOT" || exit 2
WORKSPACE="@WORKSPACE@"
STAGES=("$@")
[ ${#STAGES[@]} -eq 0 ] && STAGES=(cuda-tests backends-test conformance cli bench)
START=$(date +%s)
BUDGET=${RUN_BUDGET_S:-540}

if [ -n "${OUT:-}" ]; then LOGDIR="$OUT"; else LOGDIR="$(mktemp -d /tmp/vc6-gpu-run.XXXXXX)"; fi
mkdir -p "$LOGDIR"
SCRATCH="$(mktemp -d /tmp/vc6-gpu-scratch.XXXXXX)"
echo "run.sh: repository $ROOT; bundle $BUNDLE; logs in $LOGDIR; scratch $SCRATCH"

# ---- the machine ----
echo "== machine"
uname -a
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi || echo "run.sh: nvidia-smi failed (rc $?)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>/dev/null
else
    echo "run.sh: no nvidia-smi here"
fi
[ -r /proc/driver/nvidia/version ] && cat /proc/driver/nvidia/version
echo "libcuda known to the loader:"
ldconfig -p 2>/dev/null | grep -E 'libcuda\.so' || echo "  (none: no NVIDIA driver library found by ldconfig)"
command -v cc >/dev/null 2>&1 || echo "run.sh: no C compiler (cc): vc6-cuda's fake_driver test builds its stand-in driver with one and will fail"
if ldconfig -p 2>/dev/null | grep -qE 'libcuda\.so '; then
    echo "run.sh: note: the unversioned libcuda.so is installed; cudarc tries that name first, so vc6-cuda's fake_driver test (a stand-in libcuda.so.1 on LD_LIBRARY_PATH) may load the real driver here and fail: read its log with that in mind"
fi

# ---- the workspace path compiled into the tests ----
if [ "$(cd "$WORKSPACE" 2>/dev/null && pwd -P)" = "$(pwd -P)" ]; then
    echo "run.sh: $WORKSPACE is this repository"
elif [ ! -e "$WORKSPACE" ]; then
    if mkdir -p "$(dirname "$WORKSPACE")" && ln -s "$ROOT" "$WORKSPACE"; then
        echo "run.sh: made $WORKSPACE a symbolic link to $ROOT (the tests read fixtures/ and shaders/ through paths compiled in under $WORKSPACE)"
    else
        echo "run.sh: WARNING: could not link $WORKSPACE to $ROOT: tests that read fixtures will fail"
    fi
else
    echo "run.sh: WARNING: $WORKSPACE exists and is not this repository: the tests will read its fixtures"
fi

# ---- environment ----
export VC6_CUDA_UNTESTED=1
export VC6_REQUIRE_BACKENDS=cuda
export CUDA_BIN_LOC="$LOGDIR/cuda-cache"
export RUST_BACKTRACE=1
mkdir -p "$CUDA_BIN_LOC"
if ldconfig -p 2>/dev/null | grep -qE 'libnvrtc\.so'; then
    echo "run.sh: NVRTC found by the loader: $(ldconfig -p | grep -E 'libnvrtc\.so' | head -3 | tr -s ' \t' ' ')"
else
    NVRTC_DIR=""
    CANDIDATES=(/usr/local/cuda/lib64 /usr/local/cuda-*/lib64 /usr/local/cuda*/targets/*/lib)
    for py in python3 python; do
        command -v "$py" >/dev/null 2>&1 || continue
        while IFS= read -r sp; do
            CANDIDATES+=("$sp/nvidia/cuda_nvrtc/lib" "$sp/nvidia/cu13/lib" "$sp/nvidia/cu12/lib")
        done < <("$py" -c 'import site, sys
for p in site.getsitepackages() + [site.getusersitepackages()] + sys.path: print(p)' 2>/dev/null)
    done
    CANDIDATES+=("$ROOT"/target/cuda-venv/lib/python*/site-packages/nvidia/cuda_nvrtc/lib)
    for d in "${CANDIDATES[@]}"; do
        if compgen -G "$d/libnvrtc.so*" >/dev/null; then NVRTC_DIR="$d"; break; fi
    done
    if [ -n "$NVRTC_DIR" ]; then
        export LD_LIBRARY_PATH="$NVRTC_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "run.sh: NVRTC not known to the loader; added $NVRTC_DIR to LD_LIBRARY_PATH: $(ls "$NVRTC_DIR" | grep nvrtc | tr '\n' ' ')"
        compgen -G "$NVRTC_DIR/libnvrtc.so.12*" >/dev/null || compgen -G "$NVRTC_DIR/libnvrtc.so" >/dev/null \
            || echo "run.sh: WARNING: no libnvrtc.so.12 or libnvrtc.so there; the backend (cudarc, CUDA 12 names) may not load it"
    else
        echo "run.sh: WARNING: no libnvrtc.so* found (loader, /usr/local/cuda*, python site-packages): kernels cannot be built unless CUDA_BIN_LOC has them"
    fi
fi
echo "run.sh: VC6_CUDA_UNTESTED=1 VC6_REQUIRE_BACKENDS=cuda CUDA_BIN_LOC=$CUDA_BIN_LOC LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"

# ---- stages ----
NAMES=(); STATUSES=(); SECONDS_TAKEN=(); FAILED=0

# run_stage NAME TIMEOUT STDOUT_FILE CMD... (STDOUT_FILE "": stdout into the log too)
run_stage() {
    local name=$1 limit=$2 outfile=$3; shift 3
    local log="$LOGDIR/$name.log" left t0 rc status
    left=$(( BUDGET - ($(date +%s) - START) - 5 ))
    [ "$limit" -gt "$left" ] && limit=$left
    NAMES+=("$name")
    if [ "$left" -lt 20 ]; then
        echo "== $name: skipped (RUN_BUDGET_S=$BUDGET is spent)" | tee "$log"
        STATUSES+=("skipped (budget)"); SECONDS_TAKEN+=(0); FAILED=1
        return
    fi
    echo "== $name (timeout ${limit}s): $*" | tee "$log"
    t0=$(date +%s)
    if [ -n "$outfile" ]; then
        timeout -k 10 "$limit" "$@" 2> >(tee -a "$log" >&2) > "$outfile"
        rc=$?
        tee -a "$log" < "$outfile"
    else
        timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$log"
        rc=${PIPESTATUS[0]}
    fi
    case $rc in
        0) status="ok" ;;
        124|137) status="TIMEOUT after ${limit}s (rc $rc)" ;;
        *) status="FAILED (rc $rc)" ;;
    esac
    [ "$rc" -ne 0 ] && FAILED=1
    STATUSES+=("$status"); SECONDS_TAKEN+=($(( $(date +%s) - t0 )))
    echo "== $name: $status" | tee -a "$log"
}

BIN="$BUNDLE/bin"
for stage in "${STAGES[@]}"; do
    case $stage in
        cuda-tests)
            for t in @CUDA_TESTS@; do
                run_stage "$t" "${T_CUDA_TEST:-90}" "" "$BIN/$t"
            done ;;
        backends-test)
            run_stage test-vc6-backends "${T_BACKENDS_TEST:-180}" "" "$BIN/test-vc6-backends" --test-threads=2 ;;
        conformance)
            run_stage test-vc6-conformance "${T_CONFORMANCE:-60}" "" "$BIN/test-vc6-conformance" ;;
        cli)
            run_stage cli "${T_CLI:-90}" "" bash "$BUNDLE/cli-check.sh" "$BIN/vc6" "$ROOT" "$BUNDLE/pictures/@PICTURE@" "$SCRATCH/cli" ;;
        bench)
            backends=${BENCH_BACKENDS:-}
            if [ -z "$backends" ]; then
                backends=cpu,cuda
                if "$BIN/vc6" info --backends 2>/dev/null | grep -E '^opencl .*runs on' \
                    | grep -vq 'Portable Computing Language'; then
                    backends=cpu,opencl,cuda
                fi
            fi
            # shellcheck disable=SC2086
            run_stage bench "${T_BENCH:-420}" "$LOGDIR/bench-matrix.md" \
                "$BIN/backends" --matrix --uhd "$BUNDLE/pictures/@PICTURE@" \
                --batches "${BENCH_BATCHES:-1,32,256}" --backends "$backends" ${BENCH_ARGS:-}
            if ! grep -q '^- cuda: ' "$LOGDIR/bench-matrix.md" 2>/dev/null; then
                echo "run.sh: the benchmark measured no CUDA figure (see bench.log)" | tee -a "$LOGDIR/bench.log"
                STATUSES[${#STATUSES[@]}-1]="${STATUSES[${#STATUSES[@]}-1]}, no CUDA figures"
                FAILED=1
            fi ;;
        *)
            echo "run.sh: unknown stage $stage (cuda-tests backends-test conformance cli bench)"
            NAMES+=("$stage"); STATUSES+=("unknown stage"); SECONDS_TAKEN+=(0); FAILED=1 ;;
    esac
done
rm -rf "$SCRATCH"

echo
echo "== summary ($(( $(date +%s) - START )) s; logs in $LOGDIR)"
{
    echo "| stage | status | seconds |"
    echo "|---|---|---:|"
    for i in "${!NAMES[@]}"; do
        echo "| ${NAMES[$i]} | ${STATUSES[$i]} | ${SECONDS_TAKEN[$i]} |"
    done
} | tee "$LOGDIR/summary.md"
exit $FAILED
