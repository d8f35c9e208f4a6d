# Shared by the mirror-mouse study scripts (mouse_study.sh, mouse_suggest.sh, mouse_variants.sh):
# sourced from the repository root. DATA, OUT and STEPS as the scripts document them.
SP=.venv/bin/semipose
PY=.venv/bin/python
data=${DATA:-data/mirror-mouse}
out=${OUT:-runs/mouse-study}
steps=${STEPS:-400}
mkdir -p "$out"
touch "$out/times.tsv"

# run NAME OVERRIDE...: train configs/mouse/mirror_mouse.yaml into $out/NAME and append
# "NAME<TAB>seconds<TAB>test RMSE px" to $out/times.tsv; a NAME already there is skipped, so a
# script continues an interrupted study.
run() {
  local name=$1; shift
  if grep -q "^$name	" "$out/times.tsv"; then return; fi
  local t0; t0=$(date +%s)
  $SP train configs/mouse/mirror_mouse.yaml --run-dir "$out/$name" --overwrite --no-progress data.root="$data" "$@" \
    > "$out/$name.log" 2>&1
  local rmse
  rmse=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['rmse_px'])" "$out/$name/eval/metrics.json")
  printf '%s\t%s\t%s\n' "$name" "$(( $(date +%s) - t0 ))" "$rmse" >> "$out/times.tsv"
  echo "$name: $(( $(date +%s) - t0 )) s, test RMSE $rmse px"
}
