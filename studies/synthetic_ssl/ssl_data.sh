# Sourced by the synthetic semi-supervised scripts (ssl_synthetic.sh, collapse_study.sh,
# method_table.sh): from the repository root, set up .venv if needed and make the data of every
# synthetic SSL result once (data/synthetic-ssl: 3000 training + 300 validation images,
# 480x360, difficulty 0.5, seed 0; not the demo's data/synthetic, which is difficulty 0.3).
[ -x .venv/bin/semipose ] || bash scripts/setup.sh
if [ ! -f data/synthetic-ssl/annotations/person_keypoints_train.json ]; then
  .venv/bin/semipose data synth data/synthetic-ssl --train 3000 --unlabeled 0 --val 300 --image-size 480x360 --difficulty 0.5 --seed 0
fi
