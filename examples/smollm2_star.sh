#!/usr/bin/env bash
# The learning proof on a real model: SmolLM2-135M-Instruct (offline, `make smollm2`) learns
# two-number addition from its own samples. STaR / expert iteration: the base model samples K
# solutions per training problem, the math verifier judges them, and LoRA SFT on the verified
# ones is compared with LoRA SFT on as many unverified ones (the same samples, passing or not);
# then GRPO with the verifier as reward on top of verified SFT. Every model is evaluated on
# held-out problems no step saw: greedy and sampled pass@1 and maj@K, each step's change
# paired per problem with its 95% interval. `make real-rl` runs it; every step is a plain
# cotmill command. About 30 minutes a seed on 2 idle CPU cores, after 5 minutes of sampling
# shared by the seeds (--device cuda and larger budgets through the variables below on a GPU).
#
#   --seeds 0,1,2   seeds of SFT, GRPO and sampled eval (the sampled data is shared)  [0]
#   --device D      auto, cpu or cuda for training  [auto]
#   PRECISION       sampling and eval weights: auto (bf16 on a GPU, fp32 on a CPU), bf16 (on a CPU
#                   with AVX512-BF16 or AMX about 3x faster) or fp32  [auto]
#   MODEL           the base model directory  [models/SmolLM2-135M-Instruct]
#   WORKSPACE, OUT  workspace and output directories  [smollm2-star-workspace, smollm2-star]
#   the budget: SAMPLE_PROBLEMS K TEMPERATURE MAX_TOKENS HELDOUT SFT_STEPS SFT_LR
#               GRPO_STEPS GRPO_PROMPTS GRPO_GROUP GRPO_LR EVAL_SAMPLES (defaults below)
set -euo pipefail
cd "$(dirname "$0")/.."
COTMILL=${COTMILL:-cotmill}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct}
W=${WORKSPACE:-smollm2-star-workspace}
OUT=${OUT:-smollm2-star}
TASK=addition DIFFICULTY=1           # sums of two numbers up to 20: base greedy accuracy ~33%
SAMPLE_PROBLEMS=${SAMPLE_PROBLEMS:-200}  # of the 400 distinct problems; the rest are held out
K=${K:-4}
# at temperature 1 this 135M model mostly writes word salad; 0.7 for sampling, GRPO and sampled eval
TEMPERATURE=${TEMPERATURE:-0.7}
MAX_TOKENS=${MAX_TOKENS:-128}
HELDOUT=${HELDOUT:-150}
SFT_STEPS=${SFT_STEPS:-30}  # the same number of steps on both sets, whatever their size
SFT_LR=${SFT_LR:-2e-4}
GRPO_STEPS=${GRPO_STEPS:-20}
GRPO_PROMPTS=${GRPO_PROMPTS:-8}
GRPO_GROUP=${GRPO_GROUP:-4}
GRPO_LR=${GRPO_LR:-1e-4}
EVAL_SAMPLES=${EVAL_SAMPLES:-4}
PRECISION=${PRECISION:-auto}
DEVICE=auto
SEEDS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) SEEDS=$2; shift 2 ;;
    --seeds=*) SEEDS=${1#--seeds=}; shift ;;
    --device) DEVICE=$2; shift 2 ;;
    --device=*) DEVICE=${1#--device=}; shift ;;
    *) echo "usage: $0 [--seeds 0,1,2] [--device auto|cpu|cuda]" >&2; exit 2 ;;
  esac
done
if [ ! -f "$MODEL/config.json" ]; then
  echo "error: no model at $MODEL; run \`make smollm2\` first (or set MODEL)" >&2
  exit 2
fi
START=$(date +%s)
mkdir -p "$OUT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
count() { $COTMILL sql --workspace "$W" --format csv "$1" | tail -n 1; }

# 1. the base model samples K solutions per training problem (temperature 0.7), and the math
#    verifier judges them; curate marks truncated and answerless text (a real model's loops)
$COTMILL generate --workspace "$W" --job star-sample --teacher "hf:$MODEL" --tasks "$TASK" \
  --difficulty "$DIFFICULTY" --count "$SAMPLE_PROBLEMS" --seed 12 --samples "$K" \
  --temperature "$TEMPERATURE" --max-tokens "$MAX_TOKENS" --concurrency 16 --precision "$PRECISION"
$COTMILL verify --workspace "$W" --job star-sample
# 2. held-out problems: the builtin teacher gives every problem of the task a reference; the
#    mixture leaves out every problem the sampling job saw (exclude_jobs); 400 is all of them
$COTMILL generate --workspace "$W" --job star-problems --teacher builtin --tasks "$TASK" \
  --difficulty "$DIFFICULTY" --count 400 --seed 11 --error-rate 0
$COTMILL verify --workspace "$W" --job star-problems
$COTMILL curate --workspace "$W"
cat > "$OUT/heldout.yaml" <<EOF
name: star-heldout
total: $HELDOUT
ratios: {math: 1.0}
jobs: [star-problems]
exclude_jobs: [star-sample]
seed: 11
EOF
$COTMILL mix build "$OUT/heldout.yaml" --workspace "$W"
$COTMILL export --workspace "$W" --mixture star-heldout --format rl --as jsonl --out "$OUT/heldout" \
  --min-pass-rate 0 --max-pass-rate 1 --overwrite

# 3. two SFT sets of the same size from the same samples: the verified ones (every passing
#    sample, up to K a problem) and as many drawn from all samples, passing or not
VERIFIED=$(count "SELECT count(*) FROM curated WHERE job = 'star-sample'")
echo "verified samples: $VERIFIED of $(count "SELECT count(*) FROM completions WHERE job = 'star-sample'")"
if [ "$VERIFIED" -lt 1 ]; then
  echo "error: no sample passed the verifier; raise SAMPLE_PROBLEMS, K or MAX_TOKENS" >&2
  exit 1
fi
for KIND in verified unverified; do
  cat > "$OUT/$KIND.yaml" <<EOF
name: star-$KIND
total: $VERIFIED
ratios: {math: 1.0}
jobs: [star-sample]
verified: $([ "$KIND" = verified ] && echo true || echo false)
max_per_problem: $K
seed: 12
EOF
  $COTMILL mix build "$OUT/$KIND.yaml" --workspace "$W"
  $COTMILL export --workspace "$W" --mixture "star-$KIND" --format sft --as jsonl --out "$OUT/sft-$KIND" --overwrite
done
# GRPO's prompts: the training problems whose samples were neither all right nor all wrong
$COTMILL export --workspace "$W" --mixture star-verified --format rl --as jsonl --out "$OUT/rl" --overwrite

for S in ${SEEDS//,/ }; do
D="$OUT/seed-$S"
mkdir -p "$D"
# 4. LoRA SFT on each set, then GRPO (verifier reward, LoRA) on top of verified SFT
for KIND in verified unverified; do
  $COTMILL train sft --workspace "$W" --model "$MODEL" --data "$OUT/sft-$KIND" --out "$D/sft-$KIND" \
    --run "smollm2-star-sft-$KIND-s$S" --lr "$SFT_LR" --max-steps "$SFT_STEPS" --batch-size 8 \
    --max-length 256 --eval-samples 0 --seed "$S" --device "$DEVICE"
done
$COTMILL train grpo --workspace "$W" --model "$D/sft-verified/final" --data "$OUT/rl" --out "$D/grpo" \
  --run "smollm2-star-grpo-s$S" --lr "$GRPO_LR" --max-steps "$GRPO_STEPS" --prompts-per-step "$GRPO_PROMPTS" \
  --group-size "$GRPO_GROUP" --max-new-tokens "$MAX_TOKENS" --temperature "$TEMPERATURE" --seed "$S" --device "$DEVICE" \
  --sample-every 5

# 5. held-out accuracy of every model: greedy, then K samples at TEMPERATURE (pass@1, maj@K)
for STEP in base sft-unverified sft-verified grpo; do
  case $STEP in base) M=$MODEL ;; grpo) M=$D/grpo/final ;; *) M=$D/$STEP/final ;; esac
  $COTMILL eval --workspace "$W" --model "$M" --data "$OUT/heldout" --split train \
    --max-new-tokens "$MAX_TOKENS" --batch-size 64 --run "smollm2-star-greedy-$STEP-s$S" --seed "$S" \
    --precision "$PRECISION" \
    --out "$D/greedy-$STEP.jsonl"
  $COTMILL eval --workspace "$W" --model "$M" --data "$OUT/heldout" --split train \
    --samples "$EVAL_SAMPLES" --temperature "$TEMPERATURE" --max-new-tokens "$MAX_TOKENS" --batch-size 64 \
    --run "smollm2-star-sampled-$STEP-s$S" --seed "$S" --precision "$PRECISION" --out "$D/sampled-$STEP.jsonl"
done
done

# 6. the manifest (settings, machine, wall time, paired deltas per seed); --readme regenerates
#    the README's table from it
$COTMILL train manifest --recipe smollm2-star --workspace "$W" --dir "$OUT" --seeds "$SEEDS" \
  --compare base:sft-verified --compare sft-unverified:sft-verified --compare base:sft-unverified \
  --compare sft-verified:grpo \
  --wall-s $(( $(date +%s) - START )) --setting model="$MODEL" --setting task="$TASK" \
  --setting difficulty="$DIFFICULTY" --setting sample_problems="$SAMPLE_PROBLEMS" --setting k="$K" \
  --setting sample_temperature="$TEMPERATURE" --setting max_tokens="$MAX_TOKENS" \
  --setting heldout="$HELDOUT" --setting verified_samples="$VERIFIED" --setting sft_steps="$SFT_STEPS" \
  --setting sft_lr="$SFT_LR" --setting grpo_steps="$GRPO_STEPS" --setting grpo_prompts="$GRPO_PROMPTS" \
  --setting grpo_group="$GRPO_GROUP" --setting grpo_lr="$GRPO_LR" --setting eval_samples="$EVAL_SAMPLES" \
  --setting device="$DEVICE" --setting precision="$PRECISION" ${README:+--readme "$README"}
