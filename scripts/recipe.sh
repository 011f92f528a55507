# The demo recipe's `trainer train` flags, in one place for scripts/train_demo.sh and
# scripts/train_sports.sh (sourced; EPOCHS must be set). Chosen on Beauty's validation split
# (README, "The demo model"):
#   one token per item, the newest 10 items; every training position of every user once per epoch;
#   item embeddings start from a factorisation of the training co-occurrence; the first target step
#   is a softmax over the items (and yes/no); half of its target is the co-occurrence distribution
#   of the other users' purchases, each co-occurrence score squared before it is normalised
#   (--distill-sharpen 2: the teacher's mass moves to its strongest successors); the later step
#   (</s>) is scored over the same small vocabulary plus </s>; each batch is split over two threads
#   (both cores); one sample in twenty asks yes/no instead of a quarter, so more of every
#   epoch names the next item; the first step trains on item logits + 0.3 ln(1 + training count)
#   (logit adjustment), so the model's own scores come out divided by the popularity prior and rare
#   items are not pushed down.
RECIPE=(--preset demo --mode scratch --item-tokens --tasks sequential --sequential-windows every
  --item-init ppmi-svd --item-softmax --item-softmax-rest --distill-weight 0.5 --distill-sharpen 2
  --yes-no-share 0.05 --logit-adjust 0.3 --data-parallel 2 --epochs "$EPOCHS" --batch-size 128
  --lr 2e-3 --max-history-items 10 --dropout 0 --seed 2022 --checkpoint-every 200 --device cpu)
