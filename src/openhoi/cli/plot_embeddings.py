"""Draw a t-SNE map of a label space's class text embeddings (scikit-learn), coloured by verb
or by object (DEFR Fig. 4). Embeddings come from an ``embed-text`` file, or are computed with
the packaged all-MiniLM-L6-v2 (``--encoder sentence``) or a sentence-transformers folder.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--embeddings", metavar="FILE", help="an `openhoi embed-text` file")
    src.add_argument("--sentence-model", metavar="FOLDER|packaged",
                     help="sentence-transformers folder, or 'packaged' for all-MiniLM-L6-v2")
    parser.add_argument("--label-space", required=True,
                        help="shipped label space (hicodet, synthetic...) or JSON path")
    parser.add_argument("--templates", default="phrase",
                        help="template set (with --sentence-model)")
    parser.add_argument("--color-by", choices=["verb", "object"], default="object")
    parser.add_argument("--perplexity", type=float, default=None,
                        help="t-SNE perplexity (default min(30, (classes - 1) / 3))")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, metavar="FILE.png")


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.manifold import TSNE

    from openhoi.errors import CheckpointError
    from openhoi.label_space import load_label_space
    from openhoi.models.clip.class_text_embeddings import load_class_text_embeddings
    from openhoi.models.clip.text_encoders import (
        SentenceTextEncoder,
        embed_label_space,
        load_prompt_templates,
        packaged_minilm_folder,
    )

    space = load_label_space(args.label_space)
    if args.embeddings:
        emb = load_class_text_embeddings(args.embeddings, label_space=space.fingerprint)
    else:
        folder = (packaged_minilm_folder() if args.sentence_model == "packaged"
                  else args.sentence_model)
        enc = SentenceTextEncoder.from_folder(folder)
        emb = embed_label_space(enc, space, load_prompt_templates(args.templates), no_object=None)
    x = emb.interactions.numpy()
    if x.shape[0] != space.num_interactions:
        raise CheckpointError(f"{args.embeddings}: {x.shape[0]} rows for "
                              f"{space.num_interactions} interactions")
    perplexity = args.perplexity or max(2.0, min(30.0, (x.shape[0] - 1) / 3))
    xy = TSNE(n_components=2, perplexity=perplexity, random_state=args.seed,
              init="pca", metric="cosine").fit_transform(x)  # [I, 2]
    col = 0 if args.color_by == "verb" else 1
    groups = np.array([space.interactions[i][col] for i in range(space.num_interactions)])
    names = space.verbs if col == 0 else space.objects
    fig, ax = plt.subplots(figsize=(8, 8))
    cmap = plt.get_cmap("tab20")
    for k, g in enumerate(np.unique(groups)):
        m = groups == g
        ax.scatter(xy[m, 0], xy[m, 1], s=18, color=cmap(k % 20),
                   label=names[g] if len(np.unique(groups)) <= 20 else None)
    if len(np.unique(groups)) <= 20:
        ax.legend(fontsize=7, loc="best")
    if space.num_interactions <= 60:
        for i, (px, py) in enumerate(xy):
            ax.annotate(space.interaction_phrases[i].replace("a person ", ""), (px, py),
                        fontsize=6)
    ax.set_title(f"t-SNE of {space.name} class embeddings, coloured by {args.color_by}")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    plt.close(fig)
    print(f"wrote {args.out}: {space.num_interactions} classes, coloured by {args.color_by}")
    return 0
