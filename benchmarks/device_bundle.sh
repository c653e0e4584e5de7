#!/usr/bin/env bash
# Bundle what a GPU box without cmrseg's pure-Python dependencies needs to train and score the issue-5 runs:
#   .devdata/acdc  the ACDC patients those runs read (first 7 training, patient090-100, the 10 val), no scribbles,
#                  with patients.csv filtered to them (about 34 MB; git-ignored, delete after use: never commit data)
#   .whl/          wheels for CPython 3.12 / manylinux x86_64: monai, nibabel, pydantic (+ core, annotated-types,
#                  typing-inspection, typing-extensions), pydicom -- the versions of this machine's .venv
# Then, on the device (repository root; carry .devdata, .whl and runs/shape_ae_acdc/checkpoints/best.pt):
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   export PYTHONPATH=/tmp/site:src:benchmarks OMP_NUM_THREADS=1
#   python3 benchmarks/prior_weights.py --data .devdata/acdc ... --jobs 16 --set train.device=cuda ...
# Usage: benchmarks/device_bundle.sh [ACDC_ROOT]   (default ../shared/data/acdc)
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-../shared/data/acdc}
for d in .devdata .whl; do grep -qx "/$d/" .git/info/exclude 2>/dev/null || echo "/$d/" >> .git/info/exclude; done
rm -rf .devdata/acdc && mkdir -p .devdata/acdc .whl
train=$(awk -F, 'NR > 1 && $2 == "train" {print $1}' "$src/patients.csv")
val=$(awk -F, 'NR > 1 && $2 == "val" {print $1}' "$src/patients.csv")
patients="$(echo "$train" | head -7) $(echo "$train" | tail -10) $val"
head -1 "$src/patients.csv" > .devdata/acdc/patients.csv
for p in $patients; do
  grep "^$p," "$src/patients.csv" >> .devdata/acdc/patients.csv
  mkdir -p ".devdata/acdc/$p"
  cp "$src/$p/"*_frame??.nii.gz "$src/$p/"*_gt.nii.gz ".devdata/acdc/$p/"
done
version() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
pkgs=""
for name in monai nibabel pydantic pydantic_core annotated_types typing_inspection typing_extensions pydicom; do
  pkgs="$pkgs $name==$(version $name)"
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $pkgs
du -sh .devdata .whl
