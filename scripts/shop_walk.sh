#!/usr/bin/env bash
# A shop's path, timed step by step (README, "Your shop"): generates a shop of $CUSTOMERS customers
# and $PRODUCTS products (orders.csv with quoting, products.csv naming the fixtures' photos), then
# features (the tiny test CLIP), prepare (temporal split: the last $TEST_DAYS days), train ($PRESET
# preset from scratch, $EPOCHS epochs), eval (val and test, with the count baselines), export and
# site. Prints one line per step with its wall time. Needs a release build of the trainer and, for
# the site step, dist/ (scripts/build_site.sh).
#
#   bash scripts/shop_walk.sh [out-dir]      # CUSTOMERS=2000 PRODUCTS=400 EPOCHS=2 PRESET=demo ...
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}"
T=$CARGO_TARGET_DIR/release/trainer
OUT=${1:-$(mktemp -d)}
CUSTOMERS=${CUSTOMERS:-500}
PRODUCTS=${PRODUCTS:-120}
EPOCHS=${EPOCHS:-1}
PRESET=${PRESET:-tiny}
TEST_DAYS=${TEST_DAYS:-30}
mkdir -p "$OUT/photos"

step() {
  local name=$1
  shift
  local t0
  t0=$(date +%s.%N)
  "$@" > "$OUT/$name.log" 2>&1 || { cat "$OUT/$name.log"; exit 1; }
  printf '%-9s %7.1f s   %s\n' "$name" "$(echo "$(date +%s.%N) - $t0" | bc)" \
    "$(grep -v '^warning' "$OUT/$name.log" | tail -1 | cut -c1-110)"
}

# Customers buy from one of two product lines over 120 days, a purchase every few days; the same
# generator (a linear congruential one) gives the same shop on every machine.
awk -v c="$CUSTOMERS" -v p="$PRODUCTS" 'BEGIN {
  s = 12345; print "order_id,customer,sku,ordered_at,quantity"; order = 0
  for (u = 0; u < c; u++) {
    s = (s * 1103515245 + 12345) % 2147483648; n = 5 + s % 10; day = s % 60
    for (j = 0; j < n; j++) {
      s = (s * 1103515245 + 12345) % 2147483648
      sku = 2 * ((u + 7 * j + s % 3) % int(p / 2)) + u % 2
      day += 1 + s % 9; if (day > 119) break
      printf "%d,C%05d,SKU-%04d,%s,%d\n", ++order, u, sku,
        strftime("%Y-%m-%dT%H:%M:%SZ", 1704067200 + day * 86400 + (s % 86400), 1), 1 + s % 2
    }
  }
}' > "$OUT/orders.csv"
photos=(tests/fixtures/clip/photos/*.png)
{
  echo "product,title,category,image"
  for ((i = 0; i < PRODUCTS; i++)); do
    line=$([ $((i % 2)) = 0 ] && echo lip || echo hair)
    printf 'SKU-%04d,"The %s product, no. %d",%s,photos/%d.png\n' "$i" "$line" "$i" "$line" "$i"
    cp "${photos[$((i % ${#photos[@]}))]}" "$OUT/photos/$i.png"
  done
} > "$OUT/products.csv"
echo "shop: $(($(wc -l < "$OUT/orders.csv") - 1)) order rows, $PRODUCTS products, in $OUT"

step features $T features --clip tests/fixtures/clip/tiny/model.safetensors \
  --catalog "$OUT/products.csv" --catalog-item-column product --out "$OUT/features.safetensors"
step prepare $T prepare --interactions "$OUT/orders.csv" --catalog "$OUT/products.csv" \
  --catalog-item-column product --user-column customer --item-column sku --time-column ordered_at \
  --features "$OUT/features.safetensors" --test-days "$TEST_DAYS" --out "$OUT/prepared"
step train $T train --data "$OUT/prepared" --out "$OUT/run" --preset "$PRESET" --mode scratch \
  --item-tokens --tasks sequential --sequential-windows every --item-init ppmi-svd --item-softmax \
  --distill-weight 0.5 --epochs "$EPOCHS" --batch-size 16 --seed 1
step eval-val $T eval --data "$OUT/prepared" --model "$OUT/run" --split val --prompts A-3
step eval-test $T eval --data "$OUT/prepared" --model "$OUT/run" --split test --prompts A-3
step export $T export --model "$OUT/run" --data "$OUT/prepared" --quant q8_0 \
  --out "$OUT/model-q8_0.gguf"
if [ -f dist/vip5.js ]; then
  step site $T site --bundle "$OUT/model-q8_0.gguf" --out "$OUT/public"
fi
grep -h "temporal split" "$OUT/prepare.log"
cat "$OUT/eval-test.log"
