"""Output parity of ``openhoi convert --from ez-hoi`` against EZ-HOI's own model class.

    python benchmarks/parity_ez_hoi.py --ref /tmp/ezhoi_ref --clip ViT-B/16 --zero-shot uv

``--ref`` is an unmodified checkout of ChelsieLei/EZ-HOI (``git archive``). Its ``UPT`` is built
on the CPU with random weights and the released test script's flags
(``benchmarks/ez_hoi_reference.py``); every parameter outside the frozen text tower is perturbed
so that zero-initialised up-projections, LayerNorm affines and the instance adapters' scales all
matter; the state is saved in pocket's release layout (``model_state_dict``, ``optim_state_dict``,
``scheduler_state_dict``, ``scaler_state_dict``, ``epoch``, ``iteration``) with its per-layer
prompts (``txtcls_ctx_pt``, unsaved by EZ-HOI) in a separate file; ``convert_checkpoint`` and
``save_converted`` write an openhoi checkpoint, ``openhoi.models.build.load_model`` reads it
back. Both models then see the same two photos, the same CLIP input, the same CLIP image feature
(EZ-HOI's pre-extracted pickles are written from openhoi's frozen tower) and the same
detections (EZ-HOI's DETR post-processor is replaced by them; openhoi reads them from a
detections file). Printed: max |difference| of the verb logits of every pair, on entries whose
(verb, object) class is unseen / seen in the split, and of the final pair scores.

``--instances detr`` instead converts the checkpoint's own DETR (``detector.*``, no detections
file) and lets both sides run their detectors: EZ-HOI's DETR (random ResNet-50 DETR, its
decoder's cross-attention sharpened so that queries differ) with its post-processor and
``prepare_region_proposals``, openhoi's ``PlainDETR`` with the same filtering; it also prints
the max |difference| of the kept instances' boxes (CLIP-input pixels) and scores.
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).parent))
from ez_hoi_reference import ZS_TYPES, build_ez_reference  # noqa: E402

from openhoi.label_space import load_label_space  # noqa: E402
from openhoi.models.build import load_model  # noqa: E402
from openhoi.models.clip.clip_knowledge import prepare_clip_input  # noqa: E402
from openhoi.models.convert import convert_checkpoint, save_converted  # noqa: E402
from openhoi.structures import ImageBatch  # noqa: E402

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
H, W = 384, 512


def perturb(upt: torch.nn.Module, seed: int, detector: bool = False) -> None:
    """Every parameter moves, except CLIP's text tower (frozen in EZ-HOI, and the source of the
    start-up text features both sides recompute) and the one-hot ``label_HO``; the DETR only
    with ``detector`` (a random DETR gives every query the same output: sharper
    cross-attention and a noisier class head make them differ)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in upt.named_parameters():
            if name.startswith("detector.") and detector:
                if "multihead_attn.in_proj_weight" in name:
                    p.mul_(5.0)
                elif name.startswith("detector.class_embed."):
                    p.add_(torch.randn(p.shape, generator=g))
                    if name.endswith("bias"):
                        p[0] += 3.0  # some people, so that pairs form
                continue
            if name.startswith("detector.") or name == "label_HO":
                continue
            if name.startswith("clip_head.") and not name.startswith(
                    ("clip_head.image_encoder.", "clip_head.prompt_learner.")):
                continue
            if name.endswith("adaptermlp.scale"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            else:
                p.add_(0.05 * torch.randn(p.shape, generator=g))


def photos() -> torch.Tensor:
    """``[2, 3, H, W]`` two scikit-image photos, resized, in [0, 1]."""
    from skimage import data

    out = []
    for img in (data.astronaut(), data.coffee()):
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float()[None] / 255
        out.append(F.interpolate(t, size=(H, W), mode="bilinear", align_corners=False)[0])
    return torch.stack(out)


def detections(space) -> list[dict[str, torch.Tensor]]:
    """Per image: humans and objects with overlaps (per-class NMS), low scores (threshold) and
    more than ``max_instances`` of nothing; boxes xyxy in image pixels."""
    g = torch.Generator().manual_seed(7)
    out = []
    for _ in range(2):
        n = 12
        xy = torch.rand(n, 2, generator=g) * torch.tensor([W * 0.6, H * 0.6])
        wh = 30 + torch.rand(n, 2, generator=g) * torch.tensor([W * 0.35, H * 0.35])
        boxes = torch.cat([xy, (xy + wh).minimum(torch.tensor([W - 1.0, H - 1.0]))], 1)
        boxes[1] = boxes[0] + 3  # a near-duplicate: NMS drops the lower score
        labels = torch.tensor([0, 0, 0, 0, 1, 2, 41, 56, 16, 39, 41, 56])
        scores = torch.rand(n, generator=g) * 0.8 + 0.15
        out.append({"boxes": boxes, "labels": labels, "scores": scores})
    assert space.human_label == 0
    return out


def write_detections(path: Path, names: list[str], dets: list[dict]) -> None:
    images = {name: {"size": [H, W], "boxes": d["boxes"].tolist(), "scores": d["scores"].tolist(),
                     "labels": d["labels"].tolist()} for name, d in zip(names, dets)}
    path.write_text(json.dumps({"format": "openhoi-detections", "version": 1,
                                "boxes": "xyxy_abs", "images": images}))


class FixedDetections(torch.nn.Module):
    """Stands in for EZ-HOI's DETR post-processor: the given detections, CLIP-input pixels."""

    def __init__(self, dets: list[dict[str, torch.Tensor]]) -> None:
        super().__init__()
        self.dets = dets

    def forward(self, results: dict, image_sizes: torch.Tensor) -> list[dict]:
        return self.dets


def release_checkpoint(upt: torch.nn.Module, path: Path) -> None:
    """pocket's ``DistributedLearningEngine.save_checkpoint`` layout."""
    torch.save({"iteration": 41940, "epoch": 12, "model_state_dict": upt.state_dict(),
                "optim_state_dict": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0]}]},
                "scheduler_state_dict": {"step_size": 10, "gamma": 0.1, "last_epoch": 12},
                "scaler_state_dict": {"scale": 65536.0, "_growth_tracker": 0}}, path)


def run(root: str, clip_arch: str, zero_shot: str, tmp: Path, own_detr: bool = False
        ) -> dict[str, float]:
    space = load_label_space("hicodet")
    img_dir = tmp / "clip_img"
    img_dir.mkdir()
    t0 = time.time()
    upt, _, _ = build_ez_reference(root, clip_arch, zero_shot, str(img_dir))
    perturb(upt, seed=1, detector=own_detr)
    release_checkpoint(upt, tmp / "ckpt_41940_12.pt")
    prompts = torch.stack([p.detach() for p in upt.clip_head.prompt_learner.txtcls_ctx_pt])
    torch.save(prompts, tmp / "ez_prompts.pt")
    names = ["HICO_test2015_00000001.jpg", "HICO_test2015_00000002.jpg"]
    dets = detections(space)
    write_detections(tmp / "dets.json", names, dets)
    zs = ZS_TYPES[zero_shot]
    converted = convert_checkpoint(
        tmp / "ckpt_41940_12.pt", "ez-hoi", prompts=tmp / "ez_prompts.pt",
        detections=None if own_detr else tmp / "dets.json", zero_shot=zero_shot,
        descriptions=Path(root) / "hico_txt_llava/hico_HOI_descrip.txt",
        difference_descriptions=Path(root) / f"hico_txt_llava/zs_possibility/{zs}_diff.txt")
    print("\n".join(converted.report.lines()))
    save_converted(converted, tmp / "ez_hoi.pt")
    model = load_model(tmp / "ez_hoi.pt").model.eval()
    print(f"built, converted and reloaded in {time.time() - t0:.0f} s")

    pixels = photos()
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    images = (pixels - mean) / torch.tensor(IMAGENET_STD)[:, None, None]
    sizes = torch.tensor([[H, W]] * 2)
    batch = ImageBatch(images, torch.zeros(2, H, W, dtype=torch.bool), sizes, tuple(names))
    clip = model.clip
    s = clip.image_size
    clip_in = prepare_clip_input(images, sizes, s, clip.clip_mean, clip.clip_std, mode="squash")
    crop = prepare_clip_input(images, sizes, s, clip.clip_mean, clip.clip_std,
                              mode="center_crop")
    with torch.no_grad():
        feats = clip.encode_image(crop).global_feature  # EZ-HOI's pre-extracted features
        for name, f in zip(names, feats):
            with open(img_dir / (name.split(".")[0] + "_clip.pkl"), "wb") as fh:
                pickle.dump(f[None].clone(), fh)
        raw = model(batch)
        preds = model_postprocess(model, raw, sizes, names)

    scale = torch.tensor([s / W, s / H, s / W, s / H])
    ref_dets = [{"scores": d["scores"], "labels": d["labels"], "boxes": d["boxes"] * scale}
                for d in dets]
    captured: dict = {}
    if own_detr:
        proposals = upt.prepare_region_proposals

        def capture_proposals(results):
            captured["proposals"] = proposals(results)
            return captured["proposals"]

        upt.prepare_region_proposals = capture_proposals
    else:
        upt.postprocessor = FixedDetections(ref_dets)
    original = upt.compute_roi_embeddings

    def capture(*args, **kwargs):
        out = original(*args, **kwargs)
        captured["logits"] = out[0]
        return out

    upt.compute_roi_embeddings = capture
    with torch.no_grad():
        ref_out = upt([(images[b], clip_in[b]) for b in range(2)],
                      [{"filename": n} for n in names])
    out = (compare_instances(model, batch, captured["proposals"], scale) if own_detr else {})
    if own_detr:
        print(out)
    out.update(compare(space, zero_shot, raw, preds, captured.get("logits", []), ref_out, dets))
    return out


def compare_instances(model, batch: ImageBatch, proposals: list[dict], scale: torch.Tensor
                      ) -> dict[str, float]:
    """Max |difference| of the kept instances (openhoi's in image pixels, scaled to the CLIP
    input; EZ-HOI's in CLIP-input pixels), in EZ-HOI's order; labels must be equal."""
    with torch.no_grad():
        ours = model.instances(batch)
    box, score, n = 0.0, 0.0, 0
    for b, (o, r) in enumerate(zip(ours, proposals)):
        if not torch.equal(o.labels, r["labels"]):
            raise AssertionError(f"image {b}: instance labels differ: {o.labels.tolist()} here, "
                                 f"{r['labels'].tolist()} in EZ-HOI")
        box = max(box, float((o.boxes_xyxy * scale - r["boxes"]).abs().max()))
        score = max(score, float((o.scores - r["scores"]).abs().max()))
        n += len(o.labels)
    return {"instances": n, "inst_box": box, "inst_score": score}


def model_postprocess(model, raw, sizes, names):
    from openhoi.models.ez_hoi.postprocess import EZHOIPostProcess

    return EZHOIPostProcess(load_label_space("hicodet"))(raw, sizes, list(names))


def compare(space, zero_shot, raw, preds, ref_logits, ref_out, dets) -> dict[str, float]:
    unseen = torch.zeros(space.num_interactions, dtype=torch.bool)
    unseen[list(space.zero_shot_split(zero_shot).unseen_interactions)] = True
    table = space.interaction_table  # [V, O]
    diffs = {"unseen": [], "seen": [], "other": []}
    score_diffs, n_pairs, n_scores = [], 0, 0
    with_pairs = [b for b in range(2) if raw.extras["pair_mask"][b].any()]
    if len(with_pairs) != len(ref_logits):  # EZ-HOI gives no logits to an image without pairs
        raise AssertionError(f"{len(with_pairs)} images with pairs here, {len(ref_logits)} in "
                             "EZ-HOI")
    for b, theirs in zip(with_pairs, ref_logits):
        m = raw.extras["pair_mask"][b]
        ours = raw.verb_logits[b][m]  # [P, V]
        theirs = theirs.float()
        if ours.shape != theirs.shape:
            raise AssertionError(f"image {b}: {list(ours.shape)} pairs x verbs here, "
                                 f"{list(theirs.shape)} in EZ-HOI")
        n_pairs += len(ours)
        inter = table[:, raw.extras["pair_objects"][b][m]].T  # [P, V]
        d = (ours - theirs).abs()
        valid = inter >= 0
        is_unseen = valid & unseen[inter.clamp(min=0)]
        diffs["unseen"].append(d[is_unseen])
        diffs["seen"].append(d[valid & ~is_unseen])
        diffs["other"].append(d[~valid])
        ref = ref_out[b]
        verbs = space.interaction_verb[preds[b].interactions]
        if not torch.equal(verbs, ref["labels"]):
            raise AssertionError(f"image {b}: the scored (pair, verb) entries differ")
        score_diffs.append((preds[b].scores - ref["scores"]).abs())
        n_scores += len(ref["scores"])
    out = {k: float(torch.cat(v).max()) if sum(len(x) for x in v) else float("nan")
           for k, v in diffs.items()}
    nan = float("nan")
    out["scores"] = float(torch.cat(score_diffs).max()) if n_scores else nan
    out["logit_max"] = max((float(x.abs().max()) for x in ref_logits), default=nan)
    out["score_max"] = max((float(r["scores"].max()) for r in ref_out or [] if len(r["scores"])),
                           default=nan)
    out["pairs"], out["scored"] = n_pairs, n_scores
    out["unseen_n"] = sum(len(x) for x in diffs["unseen"])
    out["seen_n"] = sum(len(x) for x in diffs["seen"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", required=True, help="checkout of ChelsieLei/EZ-HOI")
    parser.add_argument("--clip", default="ViT-B/16", choices=["ViT-B/16", "ViT-L/14@336px"])
    parser.add_argument("--zero-shot", default="uv", choices=sorted(ZS_TYPES))
    parser.add_argument("--instances", default="file", choices=["file", "detr"],
                        help="file: the same detections on both sides; detr: each side runs "
                             "the checkpoint's DETR")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        r = run(args.ref, args.clip, args.zero_shot, Path(tmp), args.instances == "detr")
    if "instances" in r:
        print(f"instances: {r['instances']} kept, max |box| {r['inst_box']:.1e} px (CLIP "
              f"input), max |score| {r['inst_score']:.1e}")
    print(f"\nCPU: {platform.processor() or platform.machine()}, torch {torch.__version__}")
    print("| model | pairs | unseen-class logits | seen-class logits | other verbs | "
          "pair scores | max abs logit / score |")
    print(f"| EZ-HOI {args.clip} {args.zero_shot.upper()} | {r['pairs']} | {r['unseen']:.1e} "
          f"({r['unseen_n']}) | {r['seen']:.1e} ({r['seen_n']}) | {r['other']:.1e} | "
          f"{r['scores']:.1e} ({r['scored']}) | {r['logit_max']:.2f} / {r['score_max']:.3f} |")


if __name__ == "__main__":
    main()
