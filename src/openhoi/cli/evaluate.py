"""Score a predictions file (openhoi's, GEN-VLKT's, HOICLIP's or PPDM's) on HICO-DET, V-COCO or
HOI recognition: prints a table, writes a JSON with per-class APs, optionally draws a plot.

  openhoi evaluate --dataset hicodet --annotations test_hico.json --predictions preds.json
  openhoi evaluate --dataset hicodet --annotations test_hico.json --predictions preds.json \\
      --protocol official --anno-mat anno.mat --plot ap.png --train-annotations trainval_hico.json
  openhoi evaluate --dataset hicodet --anno-bbox-mat anno_bbox.mat --predictions preds.json \\
      --protocol official                  # ground truth as the MATLAB evaluation reads it
  openhoi evaluate --dataset vcoco --coco instances_vcoco_all_2014.json --vcoco vcoco_test.json \\
      --ids vcoco_test.ids --predictions vcoco.pickle
  openhoi evaluate --dataset hicodet --task recognition --anno-mat anno.mat --predictions p.json
  openhoi evaluate --dataset hicodet --checkpoint runs/hoiclip/model.safetensors \\
      --data-root hico_20160224_det --set model.postprocess.use_nms=false

With --checkpoint (a run's model.safetensors, checkpoints/best.pt or last.pt), the model runs
on the test split first, then its predictions are scored. The model, its label space and its
preprocessing come from the checkpoint; --set changes inference settings only (pair NMS, top-k,
zero-shot top-k, test scale). The test split is read from --data-root (default:
$OPENHOI_DATA, else the checkpoint's data.root); --skip-invalid skips unreadable test images
(they get no detections, so their ground truth counts as missed). The predictions are kept
next to the results (<output>.predictions.npz).

Results go to --output, by default the predictions file's (or checkpoint's) name plus
.eval.json (p.json -> p.json.eval.json, so p.json, p.jsonl and p.npz never share one).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the examples' lines
    parser.add_argument("--dataset", choices=["hicodet", "vcoco", "synthetic", "custom", "hico"],
                        required=True, help="custom: your own dataset (HICO-DET-style mAP on "
                        "its classes; give --label-space unless --checkpoint); hico: HICO's "
                        "classification release (recognition checkpoints or --config)")
    parser.add_argument("--checkpoint", help="a trained model (a run's model.safetensors, "
                        "checkpoints/best.pt...): predict the test split with it instead of "
                        "reading --predictions")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="with --checkpoint, an inference setting (repeatable): "
                             "model.postprocess.use_nms / nms_threshold / top_k, "
                             "model.interaction.zero_shot_topk, data.test_scale, data.max_size; "
                             "with --config, any dotted override of the recipe")
    parser.add_argument("--data-root", default=os.environ.get("OPENHOI_DATA"), metavar="DIR",
                        help="with --checkpoint: dataset folder (default: $OPENHOI_DATA, else "
                             "the checkpoint's data.root)")
    parser.add_argument("--device", help="with --checkpoint: cpu, cuda... (default: cuda if "
                        "available)")
    parser.add_argument("--batch-size", type=int, default=4, help="with --checkpoint")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="fp32",
                        help="with --checkpoint: forward-pass precision (default: %(default)s, "
                             "exact; auto = bf16 where the device computes it natively)")
    parser.add_argument("--predictions",
                        help="predictions file: .json/.jsonl/.npz (openhoi or GEN-VLKT/HOICLIP/"
                             "PPDM records); V-COCO also a vsrl_eval .pkl or GEN-VLKT's "
                             "per-query .json")
    parser.add_argument("--task", choices=["detection", "recognition"], default="detection")
    parser.add_argument("--annotations", help="ground truth (test_hico.json format)")
    parser.add_argument("--protocol", choices=["python", "official"], default="python",
                        help="HICO-DET protocol (see openhoi.evaluation.hico_map)")
    parser.add_argument("--zero-shot", help="zero-shot split: adds Unseen / Seen mAP")
    parser.add_argument("--anno-mat", help="HICO anno.mat: Known-Object image labels (official "
                        "protocol) / recognition labels and training counts")
    parser.add_argument("--anno-bbox-mat", help="HICO-DET ground truth from the official "
                        "anno_bbox.mat (bbox_test) instead of --annotations")
    parser.add_argument("--coco", help="V-COCO: instances_vcoco_all_2014.json")
    parser.add_argument("--vcoco", help="V-COCO: vcoco_test.json")
    parser.add_argument("--ids", help="V-COCO: vcoco_test.ids")
    parser.add_argument("--label-space", help="label space name or JSON (default: the dataset's)")
    parser.add_argument("--labels", choices=["interaction", "verb", "verb_id"],
                        default="interaction",
                        help="meaning of category_id in GEN-VLKT-style records")
    parser.add_argument("--train-annotations", help="training annotations: per-class training "
                        "counts for the plot (instances; recognition: images, for Few@k)")
    parser.add_argument("--output", help="result JSON (default: <predictions or checkpoint "
                        "file name>.eval.json)")
    parser.add_argument("--plot", help="write a per-class AP figure here (.png, .pdf...)")
    parser.add_argument("--config", metavar="RECIPE",
                        help="recognition: evaluate this recipe's untrained model (zero-shot "
                             "CLIP baseline), with --set overrides")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="drop invalid ground-truth records (and with --checkpoint skip "
                             "unreadable test images) instead of failing")


def _need(args: argparse.Namespace, *names: str) -> None:
    from openhoi.errors import ConfigError

    missing = [f"--{n.replace('_', '-')}" for n in names if not getattr(args, n)]
    if missing:
        raise ConfigError(f"--dataset {args.dataset} --task {args.task} needs {', '.join(missing)}")


def _read_gt(args: argparse.Namespace, space: Any, path: str) -> Any:
    from openhoi.data.annotations import read_hoi_annotations

    return read_hoi_annotations(path, space, allow_no_object=args.dataset in ("vcoco", "custom"),
                                skip_invalid=args.skip_invalid)


def _train_counts(args: argparse.Namespace, space: Any, per_image: bool = False) -> Any:
    """Training counts per interaction: annotation entries (HICO-DET's rare split counts
    instances), or images with the interaction (recognition's Few@k)."""
    from openhoi.evaluation.flat import FlatGroundTruth

    if not args.train_annotations:
        return None
    gt = FlatGroundTruth.from_annotations(_read_gt(args, space, args.train_annotations), space)
    return gt.num_images_per_class() if per_image else gt.num_gt


def _hico(args: argparse.Namespace, space: Any) -> tuple[dict[str, Any], Any]:
    from openhoi.errors import ConfigError
    from openhoi.evaluation import HICODetEvaluator, read_prediction_arrays
    from openhoi.evaluation.hico_files import read_hico_bbox_mat, read_hico_known_objects

    if bool(args.annotations) == bool(args.anno_bbox_mat):
        raise ConfigError("HICO-DET detection needs --annotations FILE or --anno-bbox-mat FILE "
                          "(one of them)")
    known = None
    if args.anno_bbox_mat:
        gt, known = read_hico_bbox_mat(args.anno_bbox_mat, space, skip_invalid=args.skip_invalid)
    else:
        gt = _read_gt(args, space, args.annotations)
    if args.anno_mat:
        known = read_hico_known_objects(args.anno_mat, space)
    preds = read_prediction_arrays(args.predictions, space, labels=args.labels,
                                   box_labels=False)
    t0 = time.perf_counter()
    ev = HICODetEvaluator(gt, space, protocol=args.protocol, zero_shot=args.zero_shot,
                          known_objects=known)
    ev.process(preds)
    res = ev.evaluate()
    log.info("evaluated in %.2f s (after reading the files)", time.perf_counter() - t0)
    counts = _train_counts(args, space)
    if counts is None and "train_counts" in space.extra:  # `openhoi label-space build` stores them
        counts = space.extra["train_counts"]
    return res, counts


def _recognition(args: argparse.Namespace, space: Any) -> tuple[dict[str, Any], Any]:
    from openhoi.evaluation import HOIRecognitionEvaluator, read_prediction_arrays
    from openhoi.evaluation.hico_files import read_hico_classification

    counts = _train_counts(args, space, per_image=True)
    if args.anno_mat:
        names, labels, counts_mat = read_hico_classification(args.anno_mat, space)
        ev = HOIRecognitionEvaluator(names, labels, space,
                                     counts_mat if counts is None else counts)
    else:
        _need(args, "annotations")
        ev = HOIRecognitionEvaluator.from_targets(_read_gt(args, space, args.annotations), space,
                                                  counts)
    ev.process_detections(read_prediction_arrays(args.predictions, space, labels=args.labels))
    return ev.evaluate(), ev.train_counts


def _vcoco(args: argparse.Namespace, space: Any) -> tuple[dict[str, Any], Any]:
    from openhoi.data.json_io import loads_json
    from openhoi.errors import PredictionFileError
    from openhoi.evaluation import (
        VCOCOEvaluator,
        read_prediction_arrays,
        read_vcoco_ground_truth,
        read_vsrl_detections,
    )
    from openhoi.evaluation.gen_vlkt_files import (
        gen_vlkt_records,
        gen_vlkt_vcoco_detections,
        is_vcoco_layout,
    )
    from openhoi.evaluation.vcoco_files import vsrl_detections

    _need(args, "coco", "vcoco", "ids")
    gt = read_vcoco_ground_truth(args.coco, args.vcoco, args.ids)
    ev = VCOCOEvaluator(gt, space)
    path = Path(args.predictions)
    if path.suffix in (".pkl", ".pickle"):
        ev.process_vsrl(read_vsrl_detections(path, gt))
        return ev.evaluate(), None
    doc = None
    if path.suffix == ".json" and path.is_file():
        try:
            doc = loads_json(path.read_bytes())
        except ValueError as err:
            raise PredictionFileError(f"{path}: not valid JSON ({err})") from None
    if doc is not None and not (isinstance(doc, dict) and "format" in doc) and is_vcoco_layout(
            gen_vlkt_records(doc, path)):
        dets, skipped = gen_vlkt_vcoco_detections(doc, path, gt, space)
        ev.process_vsrl(vsrl_detections(dets, gt, str(path)))
        res = ev.evaluate()
        res["num_images_not_in_split"] = skipped
        return res, None
    ev.process(read_prediction_arrays(path, space, labels=args.labels))
    return ev.evaluate(), None


def _pct(v: Any) -> str:
    return "   -   " if v is None else f"{100 * v:7.4f}"


def print_table(res: dict[str, Any], title: str) -> None:
    """The headline numbers, in percent."""
    print(title)
    if "AP_role_scenario_1" in res:
        print(f"  AP_role scenario 1 {_pct(res['AP_role_scenario_1'])}")
        print(f"  AP_role scenario 2 {_pct(res['AP_role_scenario_2'])}")
        print(f"  AP_agent           {_pct(res['AP_agent'])}")
        return
    if "mAP_few@1" in res or "mean_max_recall" not in res:
        cols = ["mAP"] + [k for k in res if k.startswith("mAP_few@")]
        print("  " + "".join(f"{c:>12}" for c in cols))
        print("  " + "".join(f"{_pct(res[c]):>12}" for c in cols))
        return
    splits = [("Full", ""), ("Rare", "_rare"), ("Non-rare", "_non_rare")]
    if "mAP_unseen" in res:
        splits += [("Unseen", "_unseen"), ("Seen", "_seen")]
    print(f"  {'':16}" + "".join(f"{name:>10}" for name, _ in splits))
    rows = [("Default", "mAP")] + ([("Known Object", "mAP_ko")] if "mAP_ko" in res else [])
    for name, key in rows:
        print(f"  {name:16}" + "".join(f"{_pct(res[key + suf]):>10}" for _, suf in splits))


def _output_path(args: argparse.Namespace) -> Path:
    """--output, else the input's full name plus ``.eval.json`` (distinct for x.json, x.jsonl
    and x.npz)."""
    if args.output:
        return Path(args.output)
    source = Path(args.checkpoint or args.predictions or Path(args.config).stem)
    return source.with_name(source.name + ".eval.json")


def _drop_substitutes(preds: list[Any], dataset: Any) -> list[Any]:
    """Under --skip-invalid the dataset stands in the next readable image for an unreadable
    one: keep one prediction per image id and report the images that got none."""
    seen: set[str] = set()
    out = [p for p in preds if not (p.image_id in seen or seen.add(p.image_id))]
    if len(out) < len(preds):
        log.warning("%d test images could not be read and were skipped (named above): they "
                    "have no detections, so their ground truth counts as missed",
                    len(preds) - len(out))
    del dataset
    return out


def _predict_with_checkpoint(args: argparse.Namespace) -> tuple[Any, Path]:
    """Run ``--checkpoint`` over the test split; returns its label space and the predictions
    file written (openhoi ``.npz``)."""
    import torch

    from openhoi.config import replace
    from openhoi.data.dataset import LAYOUTS, build_dataset
    from openhoi.data.loader import collate
    from openhoi.engine.evaluate import predict_loader
    from openhoi.engine.loaders import eval_loader
    from openhoi.evaluation import write_predictions
    from openhoi.inference_settings import apply_inference_overrides
    from openhoi.models.build import build_postprocess, load_model
    from openhoi.precision import resolve_precision

    loaded = load_model(args.checkpoint)
    model, space = loaded.model, loaded.label_space
    config = apply_inference_overrides(loaded.config, args.overrides)
    if args.data_root:
        config = replace(config, {"data.root": args.data_root})
    if args.skip_invalid:
        config = replace(config, {"data.skip_invalid": True})
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    test = build_dataset(config.data, "test", space)
    if not args.annotations and not args.anno_bbox_mat and args.dataset != "vcoco":
        args.annotations = str(LAYOUTS[config.data.dataset](config.data.root, "test")
                               .annotation_file)
    loader = eval_loader(test, args.batch_size, collate, config.data.num_workers)
    post = build_postprocess(config.model, space)  # --set may have changed its settings
    amp_dtype = resolve_precision(device, args.precision)
    preds = predict_loader(model.to(device), {"": post}, loader, device, amp_dtype,
                           progress=True, desc="test")[""]
    preds = _drop_substitutes(preds, test)
    path = _output_path(args).with_suffix(".predictions.npz")
    write_predictions(path, preds, space)
    log.info("%d images predicted -> %s", len(preds), path)
    return space, path


def _recognition_model(args: argparse.Namespace) -> dict[str, Any] | None:
    """Results of a recognition checkpoint or ``--config`` recipe run on its test split, or
    None when ``--checkpoint`` is a detector."""
    import torch

    from openhoi.checkpoint import checkpoint_config, load_weights_file
    from openhoi.config import load_config, replace
    from openhoi.data.dataset import resolve_label_space
    from openhoi.engine.recognition import evaluate_recognition, is_recognition
    from openhoi.errors import ConfigError
    from openhoi.models.build import build_model_parts, load_model

    if args.config:
        config = load_config(args.config, args.overrides)
        if not is_recognition(config):
            raise ConfigError(f"--config {args.config}: not a recognition recipe")
        space = resolve_label_space(config.data)
        parts = build_model_parts(config, space, pretrained=True)
    else:
        ckpt = load_weights_file(args.checkpoint)
        if not is_recognition(checkpoint_config(ckpt, args.checkpoint)):
            return None
        loaded = load_model(ckpt, args.checkpoint)
        parts, config, space = loaded.parts, loaded.config, loaded.label_space
    if args.data_root:
        config = replace(config, {"data.root": args.data_root})
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return evaluate_recognition(config, parts, space, device, args.batch_size, progress=True)


def run(args: argparse.Namespace) -> int:
    from openhoi.errors import ConfigError
    from openhoi.fileio import atomic_write_text, check_writable_dir
    from openhoi.label_space import load_label_space

    if (bool(args.checkpoint) + bool(args.predictions) + bool(args.config)) != 1:
        raise ConfigError("give either --predictions FILE, --checkpoint CKPT or --config RECIPE "
                          "(exactly one)")
    if args.overrides and args.predictions:
        raise ConfigError("--set changes how --checkpoint predicts (or the --config recipe); a "
                          "--predictions file is scored as it is")
    out = _output_path(args)
    check_writable_dir(out.parent, "--output")
    rec = _recognition_model(args) if args.checkpoint or args.config else None
    if rec is not None:
        print_table(rec, "HOI recognition mAP (%), test split")
        atomic_write_text(out, json.dumps(rec, indent=1))
        print(f"per-class results: {out}")
        return 0
    if args.checkpoint:
        space, preds = _predict_with_checkpoint(args)
        args.predictions = str(preds)
    elif args.dataset == "custom" and not args.label_space:
        raise ConfigError("--dataset custom needs --label-space (your label_space.json) or "
                          "--checkpoint")
    else:
        space = load_label_space(args.label_space or args.dataset)
    if args.dataset == "vcoco":
        res, counts = _vcoco(args, space)
        title = "V-COCO (vsrl_eval protocol)"
    elif args.task == "recognition":
        res, counts = _recognition(args, space)
        title = "HOI recognition mAP (%)"
    else:
        res, counts = _hico(args, space)
        title = (f"{'HICO-DET-style' if args.dataset == 'custom' else 'HICO-DET'} mAP (%), "
                 f"{args.protocol} protocol: {res['num_images']} images, "
                 f"{res['num_gt']} ground-truth instances, {res['num_detections']} detections")
    print_table(res, title)
    atomic_write_text(out, json.dumps(res, indent=1))
    print(f"per-class results: {out}")
    if args.plot:
        if args.dataset == "vcoco":
            role = res["per_class"]["role"]
            res = {"per_class": {"ap": role["ap_scenario_1"]}}
        from openhoi.evaluation.plots import plot_per_class_ap

        plot_per_class_ap(res, args.plot, counts, title)
        print(f"plot: {args.plot}")
    return 0
