#!/usr/bin/env bash
# The synthetic semi-supervised comparison of docs/results.md: a shared supervised warm-up on
# LABELS labelled persons (300 by default), then supervised / PoseCons / PoseDual / MultiAugs for the same number
# of steps from it, a table of the validation APs, and one of the test APs (studies/synthetic_ssl/ssl_test.py).
#
#   bash studies/synthetic_ssl/ssl_synthetic.sh            # data in data/synthetic-ssl (made on the first run)
#   LABELS=100 bash studies/synthetic_ssl/ssl_synthetic.sh # another label budget (own warm-up, own folder)
#   OUT=runs/s1 WARMUP=runs/synthetic-ssl/warmup bash studies/synthetic_ssl/ssl_synthetic.sh seed=1
#                                            # overrides go to every run
#
# Runs go to $OUT (default runs/synthetic-ssl, or runs/synthetic-ssl-l<LABELS> for another
# budget). The warm-up run folder is $WARMUP (default $OUT/warmup); an existing checkpoint
# there is reused (FRESH=1 redoes it), so a second seed can start from the first seed's warm-up.
#
# About an hour on a 2-core CPU after the warm-up (PoseDual and MultiAugs run 2-4x the
# network passes of a supervised step). Each run's console output goes to $OUT/<name>.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
. studies/synthetic_ssl/ssl_data.sh
labels=${LABELS:-300}
if [ "$labels" = 300 ]; then out=${OUT:-runs/synthetic-ssl}; else out=${OUT:-runs/synthetic-ssl-l$labels}; fi
warm=${WARMUP:-$out/warmup}
mkdir -p "$out"
if [ ! -f "$warm/checkpoints/last.pt" ] || [ "${FRESH:-0}" = 1 ]; then
  rm -rf "$warm"
  .venv/bin/semipose train configs/synthetic/supervised_warmup.yaml --run-dir "$warm" --no-progress \
    data.max_train_instances="$labels" "$@"
fi
common=(data.max_train_instances="$labels" model.init_weights="$warm/checkpoints/last.pt")
# two runs at a time, one thread each (on 2 cores this beats one 2-thread run after another)
run() {
  local name
  name=$(grep '^name:' "configs/synthetic/$1.yaml" | awk '{print $2}')
  rm -rf "$out/$name"
  .venv/bin/semipose train "configs/synthetic/$1.yaml" --run-dir "$out/$name" --no-progress num_threads=1 \
    "${common[@]}" "${@:2}" \
    > "$out/$name.log" 2>&1
}
# two lanes of about equal length (400 steps: supervised ~6 min, PoseCons ~14, MultiAugs ~19,
# each PoseDual ~27 with the other lane busy)
( run supervised "$@"; run posedual "$@"; run posecons "$@" ) &
( run posedual_equal "$@"; run multiaugs "$@" ) &
wait
SSL_OUT="$out" SSL_WARMUP="$warm" .venv/bin/python - <<'PY'
import csv, os, pathlib
root = pathlib.Path(os.environ["SSL_OUT"])
print("| run | AP | AP50 | AP75 | AR | per net |")
print("|---|---|---|---|---|---|")
for name in ["warmup", "supervised", "posecons_jc", "posedual_jc", "posedual_jc_equal", "multiaugs_joco_jccm"]:
    folder = pathlib.Path(os.environ["SSL_WARMUP"]) if name == "warmup" else root / name
    rows = [r for r in csv.DictReader(open(folder / "metrics.csv")) if r.get("AP")]
    r = rows[-1]
    nets = " / ".join(f"{k[3:]} {float(r[k]):.3f}" for k in r if k.startswith("AP_") and r[k])
    print(f"| {name} | {float(r['AP']):.3f} | {float(r['AP50']):.3f} | {float(r['AP75']):.3f} | {float(r['AR']):.3f} | {nets} |")
PY
# the same checkpoints on the 4x larger held-out test set (made on first use; docs/results.md)
.venv/bin/python studies/synthetic_ssl/ssl_test.py "$out"
