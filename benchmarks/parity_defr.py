"""Output parity of ``openhoi convert --from defr`` against DEFR's own model class.

    python benchmarks/parity_defr.py --hts /path/to/hts [--sizes full tiny] [--images 2]

No reference code is part of openhoi: ``--hts`` names an unmodified checkout of
drjinying/hts. For each setting the script

1. builds their ``ClipViT`` (``clip/clip_hico.py``) on the CPU from a random CLIP in OpenAI's
   layout made with their own ``clip.layers.CLIP`` (the file ``torch.jit.load`` would read is
   replaced by this state dict: the only stand-in) and a random classifier-init file, so their
   ``build_visual_encoder`` interpolates the position embeddings to ``model.image_size``;
2. perturbs every parameter but the fixed logit scale (LayerNorm affines and biases start at
   1 and 0, and would not be checked otherwise);
3. saves it as ``train_dist.py`` does (``checkpointer.save_checkpoint``: ``{'epoch',
   'model_state_dict', 'optimizer_state_dict'}``, DDP's ``module.`` prefix);
4. converts it with ``convert_checkpoint(..., "defr")``, writes it with ``save_converted`` and
   reloads it through ``openhoi.recognize.Recognizer`` (``openhoi.models.build.load_model``);
5. runs the same photos (scikit-image's) through their evaluation input pipeline
   (``dataloader.HICODataset`` on a one-split fake HICO folder) + model and through openhoi's
   preprocessing + model, and prints the max abs differences of the inputs, of the logits on
   the same input tensor and end to end, of the sigmoid scores, and top-k agreement.

Settings: ``full`` is DEFR's released model (CLIP ViT-B/16 at 672 px, cosine classifier
``clip``, 600 HICO classes); ``tiny`` runs a 1-block ViT-B/16 at 64 px (an open_clip config
registered here) with each classifier layout (``clip``, ``clip-linear``, ``i-clip``,
``rand-512``, ``rand-512-linear``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openhoi.precision import cpu_name

SIZES = {
    # embed, native res, vision layers, width, patch, text width, text layers, image size
    "full": dict(embed=512, native=224, layers=12, width=768, patch=16, text_width=512,
                 text_layers=12, image_size=672),
    # one block at 64 px; width 768 and embed 512 because their linear and rand classifiers
    # hard-code them (nn.Linear(768, ncls), rand-512)
    "tiny": dict(embed=512, native=32, layers=1, width=768, patch=16, text_width=64,
                 text_layers=1, image_size=64),
}
TINY_ARCH = {"embed_dim": 512, "quick_gelu": True,
             "vision_cfg": {"image_size": 32, "layers": 1, "width": 768, "patch_size": 16},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1,
                          "layers": 1}}
_TOP_LEVEL = ("clip", "dataloader")


class AttrDict(dict):
    """Their Hydra ``cfg``: attribute access and ``.get``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _cfg(size: dict, classifier: str, data_dir: str) -> AttrDict:
    model = AttrDict(backbone="CLIP-ViT-B", patch_size=size["patch"], classifier=classifier,
                     classifier_fp="classifier_weights", image_size=size["image_size"],
                     log_scale=4.61, log_scale_max=4.61, log_scale_trainable=False)
    data = AttrDict(dataset="hico", min_samples=40, aug_bright=0.4, aug_contra=0.4,
                    aug_crop_scale=[0.7, 1.0], aug_crop_ratio=[0.7, 1.3])
    return AttrDict(model=model, data=data, paths=AttrDict(data_dir=data_dir))


@contextlib.contextmanager
def reference_imports(root: Path, clip_files: dict[str, dict]) -> Iterator[None]:
    """Import from the checkout; ``torch.jit.load`` of a CLIP file returns the random state
    dict written for it; every module imported from there is forgotten afterwards."""
    saved_load = torch.jit.load

    class _Loaded:
        def __init__(self, state: dict) -> None:
            self._state = state

        def eval(self) -> _Loaded:
            return self

        def state_dict(self) -> dict:
            return dict(self._state)

    def jit_load(path: str, map_location: Any = None) -> _Loaded:
        return _Loaded(clip_files[os.path.normpath(path)])

    sys.path.insert(0, str(root))
    torch.jit.load = jit_load
    try:
        yield
    finally:
        torch.jit.load = saved_load
        sys.path.remove(str(root))
        for name in list(sys.modules):
            if name.split(".")[0] in _TOP_LEVEL:
                del sys.modules[name]


def _random_clip(size: dict, seed: int) -> dict:
    """A random CLIP in OpenAI's layout, from their ``clip.layers.CLIP``."""
    from clip.layers import CLIP

    torch.manual_seed(seed)
    clip = CLIP(size["embed"], size["native"], size["layers"], size["width"], size["patch"], 77,
                49408, size["text_width"], max(1, size["text_width"] // 64), size["text_layers"])
    return {k: v.detach().clone() for k, v in clip.state_dict().items()}


@torch.no_grad()
def _perturb(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name == "logit_scale":
            continue  # DEFR's fixed exp(4.61)
        scale = 0.1 if p.ndim <= 1 else 0.02
        p.add_(scale * torch.randn(p.shape, generator=g))


def _fake_hico(folder: Path, images: list, num_classes: int = 600) -> list[str]:
    """``images/test2015/*.jpg`` + ``anno.pkl`` as their ``HICODataset`` reads them."""
    from PIL import Image

    (folder / "images" / "test2015").mkdir(parents=True)
    names = []
    for i, array in enumerate(images):
        names.append(f"HICO_test2015_{i:08d}.jpg")
        Image.fromarray(array).save(folder / "images" / "test2015" / names[-1], quality=95)
    anno = {"hoi_list": [], "files_test": np.array(names), "files_train": np.array(names),
            "anno_test": np.zeros((num_classes, len(names))),
            "anno_train": np.zeros((num_classes, len(names)))}
    with open(folder / "anno.pkl", "wb") as f:
        pickle.dump(anno, f)
    return [str(folder / "images" / "test2015" / n) for n in names]


def _photos(n: int) -> list:
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    return photos[:n]


def build_reference(root: Path, size: dict, classifier: str, tmp: Path, seed: int):
    """(their ClipViT in eval mode, their test HICODataset) for ``size`` and ``classifier``."""
    data_dir = tmp / "data"
    (data_dir / "clip").mkdir(parents=True)
    clip_files: dict[str, dict] = {}
    with reference_imports(root, clip_files):
        state = _random_clip(size, seed)
        clip_files[os.path.normpath(str(data_dir / f"clip/ViT-B-{size['patch']}.pt"))] = state
        g = torch.Generator().manual_seed(seed + 1)
        init = {"clip_w": torch.randn(600, size["embed"], generator=g),
                "clip_proj": state["visual.proj"].clone()}
        torch.save(init, data_dir / "classifier_weights")
        cfg = _cfg(size, classifier, str(data_dir))
        from clip.clip_hico import ClipViT
        from dataloader import HICODataset

        torch.manual_seed(seed + 2)
        model = ClipViT(cfg).eval()
        _perturb(model, seed + 3)
        paths = _fake_hico(data_dir, _photos(ARGS.images))
        dataset = HICODataset(cfg, "test")
    return model, dataset, paths


def save_release(model: torch.nn.Module, path: Path) -> None:
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 9, "model_state_dict": state,
                "optimizer_state_dict": {"state": {}, "param_groups": []}}, path)


def _topk_agree(a: torch.Tensor, b: torch.Tensor, k: int) -> str:
    same = sum(torch.equal(x.topk(k).indices, y.topk(k).indices) for x, y in zip(a, b))
    return f"{same}/{len(a)}"


def _order_agree(a: torch.Tensor, b: torch.Tensor) -> str:
    """Images whose whole class ranking is the same."""
    same = sum(torch.equal(x.argsort(descending=True), y.argsort(descending=True))
               for x, y in zip(a, b))
    return f"{same}/{len(a)}"


def run_setting(root: Path, name: str, size: dict, classifier: str, seed: int) -> dict:
    from openhoi.models.convert import convert_checkpoint, save_converted
    from openhoi.recognize import Recognizer

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model, dataset, paths = build_reference(root, size, classifier, tmp, seed)
        ref_inputs = torch.stack([dataset[i][0] for i in range(len(dataset))])
        t0 = time.perf_counter()
        with torch.no_grad():
            ref_logits = model(ref_inputs).float()
        t_ref = time.perf_counter() - t0
        save_release(model, tmp / "defr.pt")
        del model
        converted = convert_checkpoint(tmp / "defr.pt", "defr")
        save_converted(converted, tmp / "openhoi.pt")
        rec = Recognizer.from_checkpoint(tmp / "openhoi.pt", device="cpu")
        from openhoi.data.image_io import load_image

        ours_inputs = torch.stack([rec.transform(load_image(p)) for p in paths])
        with torch.no_grad():
            t0 = time.perf_counter()
            same_input = rec.model(_batch(ref_inputs)).logits.float()
            t_ours = time.perf_counter() - t0
            end_to_end = rec.model(_batch(ours_inputs)).logits.float()
        scores = rec.scores([load_image(p) for p in paths])
    return {
        "setting": name, "classifier": classifier, "images": len(paths),
        "report": converted.report.summary(),
        "max_abs_logit": float(ref_logits.abs().max()),
        "input_diff": float((ours_inputs - ref_inputs).abs().max()),
        "logits_same_input": float((same_input - ref_logits).abs().max()),
        "logits_end_to_end": float((end_to_end - ref_logits).abs().max()),
        "scores_end_to_end": float((scores - ref_logits.sigmoid()).abs().max()),
        "order_same_input": _order_agree(same_input, ref_logits),
        "order_end_to_end": _order_agree(end_to_end, ref_logits),
        "top5_same_input": _topk_agree(same_input, ref_logits, 5),
        "top5_end_to_end": _topk_agree(end_to_end, ref_logits, 5),
        "seconds_ref": round(t_ref, 2), "seconds_ours": round(t_ours, 2),
    }


def _batch(images: torch.Tensor):
    """``ImageBatch`` of an already square batch (what ``recognition_collate`` makes)."""
    from openhoi.data.recognition import recognition_collate
    from openhoi.structures import ImageLabels

    size = tuple(images.shape[-2:])
    batch, _ = recognition_collate([(im, ImageLabels("", size, torch.zeros(0)))
                                    for im in images])
    return batch


def _register_tiny(tmp: Path) -> None:
    import open_clip

    path = tmp / "defr-parity-tiny.json"
    path.write_text(json.dumps(TINY_ARCH))
    open_clip.add_model_config(path)


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hts", required=True, type=Path, help="drjinying/hts checkout")
    parser.add_argument("--sizes", nargs="+", default=["tiny", "full"], choices=list(SIZES))
    parser.add_argument("--full-image-size", type=int, default=672,
                        help="input size of the full setting (DEFR: 672)")
    parser.add_argument("--images", type=int, default=4, choices=[1, 2, 3, 4])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    ARGS = parser.parse_args()
    if not (ARGS.hts / "clip" / "clip_hico.py").is_file():
        parser.error(f"{ARGS.hts}: no clip/clip_hico.py (a drjinying/hts checkout?)")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    with tempfile.TemporaryDirectory() as d:
        _register_tiny(Path(d))
        for name in ARGS.sizes:
            size = dict(SIZES[name])
            if name == "full":
                size["image_size"] = ARGS.full_image_size
            layouts = ["clip"] if name == "full" else ["clip", "clip-linear", "i-clip",
                                                          "rand-512", "rand-512-linear"]
            for classifier in layouts:
                row = run_setting(ARGS.hts.resolve(), f"{name} {size['image_size']}px", size,
                                  classifier, ARGS.seed)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(f"\nCPU: {cpu_name()}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, load "
          f"{os.getloadavg()[0]:.2f}")
    print("| setting | classifier | max abs logit | input | logits, same input | logits, end to "
          "end | sigmoid scores | top-5 same | whole ranking same |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setting']} | {r['classifier']} | {r['max_abs_logit']:.1f} | "
              f"{r['input_diff']:.1e} | {r['logits_same_input']:.1e} | "
              f"{r['logits_end_to_end']:.1e} | {r['scores_end_to_end']:.1e} | "
              f"{r['top5_same_input']} / {r['top5_end_to_end']} | "
              f"{r['order_same_input']} / {r['order_end_to_end']} |")
    if ARGS.json:
        ARGS.json.write_text(json.dumps(rows, indent=1))


ARGS: argparse.Namespace

if __name__ == "__main__":
    main()
