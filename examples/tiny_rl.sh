#!/usr/bin/env bash
# The learning recipe: a tiny model learns arithmetic from builtin CoT (SFT), then GRPO with
# the math verifier as reward; held-out accuracy before and after, per seed. CPU only,
# offline, about 12 minutes a seed on 2 cores. `make tiny-rl` runs it (`make tiny-rl
# SEEDS=0,1,2` for three seeds); every step is a plain cotmill command. At the end
# `cotmill train manifest` writes OUT/manifest.json (commit, versions, threads, machine,
# settings, wall time, results per seed and their spread) into the workspace and `runs`.
#
#   --seeds 0,1,2  seeds of the model init, SFT, GRPO and sampled eval  [0]
#   WORKSPACE      workspace directory       [tiny-rl-workspace]
#   OUT            where models and exports go  [tiny-rl]
set -euo pipefail
cd "$(dirname "$0")/.."
COTMILL=${COTMILL:-cotmill}
W=${WORKSPACE:-tiny-rl-workspace}
OUT=${OUT:-tiny-rl}
SFT_EPOCHS=${SFT_EPOCHS:-16}
GRPO_STEPS=${GRPO_STEPS:-300}
SEEDS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) SEEDS=$2; shift 2 ;;
    --seeds=*) SEEDS=${1#--seeds=}; shift ;;
    *) echo "usage: $0 [--seeds 0,1,2]" >&2; exit 2 ;;
  esac
done
START=$(date +%s)
mkdir -p "$OUT"
# torch picks one thread per core; more only fight each other on a small machine
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}

# 1. data: arithmetic problems with step-by-step solutions, verified and curated. The mixture
#    tiny-rl (2,800 train problems for SFT, 2,800 val held out of SFT and GRPO) is exported as
#    sft rows and as rl rows (its val split is what accuracy is measured on); the mixture
#    tiny-rl-pool takes 2,400 other problems for GRPO's prompts. --overwrite: a re-run replaces
#    the exports of the last one.
sed "s#out: tiny-rl/sft#out: $OUT/sft#" examples/tiny_rl.yaml > "$OUT/pipeline.yaml"
$COTMILL run "$OUT/pipeline.yaml" --workspace "$W"
$COTMILL export --workspace "$W" --mixture tiny-rl --format rl --as jsonl --out "$OUT/heldout" \
  --min-pass-rate 0 --max-pass-rate 1 --overwrite
$COTMILL mix build examples/tiny_rl_pool.yaml --workspace "$W"
$COTMILL export --workspace "$W" --mixture tiny-rl-pool --format rl --as jsonl --out "$OUT/rl" \
  --min-pass-rate 0 --max-pass-rate 1 --overwrite

for S in ${SEEDS//,/ }; do
D="$OUT/seed-$S"
mkdir -p "$D"
# 2. a tiny Qwen2 model (~0.8M parameters) with a tokenizer trained on the workspace's text
$COTMILL train tiny --workspace "$W" --out "$D/model" --seed "$S"

# 3. SFT: the full model (a random model has nothing for a LoRA adapter to adapt)
$COTMILL train sft --workspace "$W" --model "$D/model" --data "$OUT/sft" --out "$D/sft-run" --run "tiny-rl-sft-s$S" \
  --no-lora --lr 3e-3 --max-length 512 --batch-size 8 --epochs "$SFT_EPOCHS" --eval-samples 0 --seed "$S"

# 4. GRPO on the SFT model over the pool's prompts, the math verifier as reward; dynamic
#    sampling keeps only groups with mixed rewards (all-right or all-wrong groups teach nothing)
$COTMILL train grpo --workspace "$W" --model "$D/sft-run/final" --data "$OUT/rl" --out "$D/grpo-run" --run "tiny-rl-grpo-s$S" \
  --no-lora --lr 1e-4 --max-steps "$GRPO_STEPS" --prompts-per-step 16 --group-size 8 --max-new-tokens 64 \
  --temperature 1.0 --loss grpo --dynamic-sampling --seed "$S" --sample-every 50

# 5. held-out accuracy on tiny-rl's val split (problems neither SFT nor GRPO saw), after SFT
#    and after GRPO: greedy, then pass@1 over 4 samples at temperature 1 (the policy GRPO
#    trains). The delta column is paired per problem, with its 95% interval.
$COTMILL eval --workspace "$W" --model "$D/sft-run/final" --model "$D/grpo-run/final" \
  --data "$OUT/heldout" --split val --max-new-tokens 64 --batch-size 128 --run "tiny-rl-greedy-s$S" --seed "$S" --out "$D/greedy.jsonl"
$COTMILL eval --workspace "$W" --model "$D/sft-run/final" --model "$D/grpo-run/final" \
  --data "$OUT/heldout" --split val --samples 4 --temperature 1.0 --max-new-tokens 64 --batch-size 128 \
  --run "tiny-rl-sampled-s$S" --seed "$S" --out "$D/sampled.jsonl"
done

# 6. the manifest: every setting, the machine, the wall time and the results per seed with
#    their spread; `--readme README.md` regenerates the README's table from it
$COTMILL train manifest --recipe tiny-rl --workspace "$W" --dir "$OUT" --seeds "$SEEDS" \
  --wall-s $(( $(date +%s) - START )) --setting sft_epochs="$SFT_EPOCHS" --setting grpo_steps="$GRPO_STEPS" \
  ${README:+--readme "$README"}
