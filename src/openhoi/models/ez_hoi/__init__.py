"""EZ-HOI (Lei, Wang, Tan, NeurIPS 2024): two-stage zero-shot HOI detection with guided prompts.

Where each computation comes from. "EZ" = ChelsieLei/EZ-HOI @ de9bb3b6 (``upt_tip_cache_model_
free_finetune_distillself.py`` = UPTF, ``CLIP_models_adapter_prior2.py`` = CMA,
``main_tip_finetune.py`` = MAIN, ``scripts/hico_train_vitB_zs.sh``); "ADA-CM" = ltttpku/ADA-CM
@ 9405627c (same ``CLIP_models_adapter_prior2.Adapter``); "UPT" = fredzzhang/upt @ 1927430
(``upt.py``). Settings are the released script's flags over MAIN's argparse defaults.

Two-stage pipeline (``detections``, ``pairs``, ``model``)
  - Instances: DETR's post-processing (softmax, no-object dropped, best class) as UPT/EZ
    ``postprocessors['bbox']``; then UPTF ``prepare_region_proposals`` = UPT's: per-class
    ``batched_nms(0.5)``, ``--box-score-thresh 0.2``, humans and objects each topped up to
    ``--min-instances 3`` / cut to ``--max-instances 15`` by score, humans first.
    Source: DETR as released (``openhoi.models.detr.plain_detr``: one query set, loaded
    from DETR / UPT ``detr-r50-hicodet.pth`` as they are, or from an EZ-HOI checkpoint's
    ``detector.*`` by the converter) or a per-image detections JSON. DETR sees the image at
    DETR's test scale (``RandomResize([800], max_size=1333)``, ImageNet normalisation: the
    data pipeline's); EZ post-processes in CLIP-input pixels (``image_sizes`` of the squashed
    CLIP image), here in the image's pixels then scaled: the same boxes up to that linear
    map, which leaves NMS IoUs and the normalised priors unchanged. A 91-class COCO head
    (``--pretrained detr-r50-e632da11.pth``) keeps its 80 categories and no-object before
    the softmax (UPTF ``reserve_indices``; ``PlainDETR.detect(coco80_softmax=True)``).
    One difference: EZ's engine calls ``net.train()``, which puts its frozen DETR in train
    mode too (transformer dropout 0.1 on during training; FrozenBN unaffected); here the
    detector stays in eval mode, so training sees the instances evaluation sees.
  - Pairs: UPTF ``compute_roi_embeddings``: every human x every other instance
    (``x != y, x < n_h``). Boxes in CLIP-input pixels (EZ resizes the image to a square,
    ``T.IResize``; ``image_resize: squash``). Features: CMA ``VisionTransformer_MAPLE``
    returns ``ln_post(all tokens) @ proj``; patches -> ``roi_align`` 7x7 (``aligned=True``,
    scale grid/S) of every instance -> ``Dropout(0.2)`` on the map (``featmap_dropout``) ->
    mean; human and object features L2-normalised (``individual_norm``) ->
    ``vis_fuse`` = Linear(2E, E) ReLU Linear(E, E) ReLU (``--logits_type HO``) ->
    ``mem_adapter`` (``--img_align``: UPTF ``Adapter(mem_adpt_self=True)``, self-context over
    the image's pairs) -> ``(f @ text.T) @ label_HO / sample_lens_HO / 2 * logit_scale_HO``
    (``load_cache_model``: one-hot verbs of the prompted classes; ``logit_scale_HO`` =
    log(1/0.07), not exponentiated).
  - Scores: UPTF ``compute_prior_scores`` / ``postprocessing``: ``sigmoid(logit) * s_h^l *
    s_o^l`` on verbs valid for the object (l = 1 in training, ``--hyper_lambda 2.8`` at test).
  - Instance adapter (ADA-CM, ``--use_insadapter``): CMA ``Adapter(init_option='lora',
    adapter_scalar='learnable_scalar', bottleneck=64)`` in every image block
    (``adapter_pos='all'``), added to the block input before attention
    (``ResidualAttentionBlock_MAPLE.forward``); its decoder layer is cross-attention only (CMA
    redefines ``TransformerDecoderLayer`` without self-attention); instance priors UPTF
    ``get_prior`` with ``--prior_type cbe`` (score, box / image size, object text feature)
    -> MLP(5+E, 128, 64).
Prompts (``prompts``, ``towers``)
  - UPTF ``MultiModalPromptLearner`` with ``--N_CTX 2 --tune_LY 9 --CTX_INIT 'A photo of'
    --txtcls_pt --img_clip_pt --unseen_pt_inj``: per-layer text prompts; class-specific via
    ``txtcls_pt_adapter`` = UPTF ``Adapter(pt_tune=True)`` (down 64, ``TransformerDecoderLayer_CA``
    with 2 heads, zero-init up, residual) over the class description feature; visual
    prompts = ``proj`` / ``compound_prompt_proj_vis[l]`` (Linear D->W) of the shared text
    prompts, then ``img_clip_pt_adapter`` over the frozen CLIP global image feature (EZ
    pre-extracts it with ``CLIP_hicodet_extract.py``: ``encode_image`` of CLIP's own
    preprocessing, L2-normalised at load; here the frozen tower on the centre crop).
  - Insertion: CMA ``VisionTransformer_MAPLE.forward`` (layer-0 visual prompts appended after
    the patches, before ``ln_pre``) and ``ResidualAttentionBlock_MAPLE.forward`` (blocks
    1..8 replace the last n tokens). Text: MaPLe ``TextEncoder`` (prompts after the start
    token; ``text_position: after_sos``).
  - UTPL (``--unseen_pt_inj``): ``unseen_pt_adapter`` = UPTF ``Adapter(pt_tune=False)`` (self +
    cross attention) over [difference-sentence features, detached seen-partner prompt, own
    prompt] (UPTF ``MultiModalPromptLearner.forward``, ``build_detector``).
  - Class subset: UPTF ``build_detector`` ``select_HOI_index`` (per verb the two classes with
    the least similar description features, plus UTPL's seen partners).
Descriptions (``descriptions``): UPTF ``build_detector`` (``hico_HOI_descrip.txt``, lines
  ``count % 3 == 1``; ``zs_possibility/<zs_type>_diff.txt``).
Losses (``criterion``): UPTF ``compute_interaction_loss`` (= UPT's) with EZ ``ops.
  binary_focal_loss_with_logits`` (``--alpha 0.5 --gamma 0.2``); ``sem_loss`` in
  ``UPT.forward`` + ``kl_loss`` / ``cal_similarity`` (T = 0.1, weight 150).
Training (recipes): MAIN: AdamW lr 1e-3 (``--lr-vit``, ``--lr-head``), wd 1e-4, StepLR(10),
  clip 0.1; trainable: MAIN's ``requires_grad`` loop (``adaptermlp``, ``prompt_learner``,
  everything outside CLIP and DETR; it also names ``visual.positional_embedding``,
  ``visual.ln_post`` and ``visual.proj``, which match nothing: ``CustomCLIP`` calls the tower
  ``image_encoder``, so CLIP's head stays frozen, here too unless ``train_visual_head``).
  Visual prompts enter the tower rounded to fp16 (CMA's ``.half()``; ``visual_prompts_fp16``).

Where openhoi differs from the released code, and why (each is a finding in that code):
  1. EZ puts the class-specific text prompts in the *last* two of the 77 positions
     (``token_prompts[:, :-n_ctx]`` + prompts), after the end-of-text token: CLIP's causal
     mask hides them, so its text features are the frozen features of "A photo of <class>."
     and ``txtcls_pt_adapter``/``unseen_pt_adapter`` get no gradient. Default here: MaPLe's
     placement after the start token; ``text_position: released_tail`` reproduces EZ.
  2. EZ keeps the per-layer prompts ``txtcls_ctx_pt`` in a Python list of ``nn.Parameter``:
     not registered, never optimised or saved (random N(0, 1), reproducible only through the
     seed), while the registered ``ctx`` ("A photo of") is unused. Here they are parameters,
     layer 0 initialised from "A photo of" (MaPLe), deeper ones N(0, 0.02).
  3. ``sem_loss`` indexes the prompted-class table and the 600 description features with verb
     ids (``hoitxt_features[targets['verb']]``); here the rows are the classes themselves.
  4. UTPL's padding mask is concatenated with a float tensor (``torch.cat((mask, zeros))``),
     which turns it into an additive +1 bias on padded slots; here it is a boolean mask.
  5. Unused modules are not built (the ``norm1`` of the cross-attention-only layers,
     ``mem_adapter``'s prior MLP): the parameter reconciliation is in the README.
"""
