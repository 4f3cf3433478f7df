"""``LabelSpace``: every fact about a benchmark's classes, loaded from JSON shipped as data.

Objects (with the category ids the annotation files use), verbs, interactions as (verb, object)
pairs in the benchmark's official order, the rare split, zero-shot splits and, for V-COCO, verb
roles and interactions without an object ("objectless": agent-only actions such as
``stand``, or a role left empty; GEN-VLKT's object class 80). Nothing in the code base
hard-codes a class count: it asks a ``LabelSpace``.
The JSON schema is documented in ``label_spaces/README.md``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openhoi.errors import DataError

if TYPE_CHECKING:  # torch is imported by the tensor-returning members only: the evaluators
    from torch import Tensor  # read label spaces without it (``openhoi evaluate`` is torch-free)

LABEL_SPACE_DIR = Path(__file__).parent / "label_spaces"


@dataclass(frozen=True)
class ZeroShotSplit:
    """Classes held out of training in a zero-shot setting.

    Attributes:
        name: split name, e.g. ``rf_uc`` (rare-first unseen combination), ``nf_uc``, ``uo``, ``uv``.
        unseen_interactions: interaction indices never seen in training.
        unseen_objects: object indices never seen in training (UO), else empty.
        unseen_verbs: verb indices never seen in training (UV), else empty.
    """

    name: str
    unseen_interactions: tuple[int, ...]
    unseen_objects: tuple[int, ...] = ()
    unseen_verbs: tuple[int, ...] = ()


@dataclass(frozen=True)
class LabelSpace:
    """Classes of one benchmark. All indices are 0-based positions in these tuples.

    Attributes:
        name: short id (``hicodet``, ``vcoco``, ``synthetic``).
        objects: object class names.
        object_ids: category id of each object class in the annotation files (COCO ids).
        verbs: verb names (``ride``, ``no_interaction``...).
        verb_ids: id of each verb in the annotation files.
        verb_ing: present participle of each verb for prompts (``riding``).
        interactions: ``(verb_idx, object_idx)`` of each interaction class, official order.
            ``object_idx`` is ``-1`` for an objectless interaction (V-COCO ``stand``, ``holding``
            with no object box); HICO-DET has none.
        interaction_phrases: natural phrase of each interaction (``a person riding a horse``).
        human_label: index of the person class in ``objects``.
        rare_threshold: an interaction is rare when it has fewer training instances than this.
        rare_interactions: indices of the rare interactions.
        zero_shot: zero-shot splits by name.
        verb_roles: for V-COCO, the roles of each verb (``agent``, ``obj``, ``instr``), else empty.
        extra: any further data the JSON carries (sources, low-data settings, counts...).
    """

    name: str
    objects: tuple[str, ...]
    object_ids: tuple[int, ...]
    verbs: tuple[str, ...]
    verb_ids: tuple[int, ...]
    verb_ing: tuple[str, ...]
    interactions: tuple[tuple[int, int], ...]
    interaction_phrases: tuple[str, ...]
    human_label: int
    rare_threshold: int = 10
    rare_interactions: tuple[int, ...] = ()
    zero_shot: dict[str, ZeroShotSplit] = field(default_factory=dict)
    verb_roles: tuple[tuple[str, ...], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    # ---- sizes ------------------------------------------------------------------------------
    @property
    def num_objects(self) -> int:
        return len(self.objects)

    @property
    def num_verbs(self) -> int:
        return len(self.verbs)

    @property
    def num_interactions(self) -> int:
        return len(self.interactions)

    # ---- identity ---------------------------------------------------------------------------
    @cached_property
    def fingerprint(self) -> str:
        """``name-<8 hex>``: a hash of the classes and their order, stored in checkpoints."""
        core = [self.objects, self.object_ids, self.verbs, self.interactions, self.human_label]
        digest = hashlib.sha256(json.dumps(core).encode()).hexdigest()[:8]
        return f"{self.name}-{digest}"

    # ---- index maps -------------------------------------------------------------------------
    @cached_property
    def interaction_verb(self) -> Tensor:
        """``[I]`` int64 verb index of each interaction."""
        import torch

        return torch.tensor([v for v, _ in self.interactions], dtype=torch.long)

    @cached_property
    def interaction_object(self) -> Tensor:
        """``[I]`` int64 object index of each interaction, -1 for objectless interactions."""
        import torch

        return torch.tensor([o for _, o in self.interactions], dtype=torch.long)

    @cached_property
    def objectless_interactions(self) -> tuple[int, ...]:
        """Indices of the interactions without an object (empty for HICO-DET)."""
        return tuple(i for i, (_, o) in enumerate(self.interactions) if o < 0)

    @cached_property
    def interaction_table(self) -> Tensor:
        """``[V, O]`` int64: the interaction index of (verb, object), -1 where invalid.

        Objectless interactions are not in this table; see ``objectless_table``.
        """
        import torch

        table = torch.full((self.num_verbs, self.num_objects), -1, dtype=torch.long)
        has_obj = self.interaction_object >= 0
        table[self.interaction_verb[has_obj], self.interaction_object[has_obj]] = torch.arange(
            self.num_interactions)[has_obj]
        return table

    @cached_property
    def objectless_table(self) -> Tensor:
        """``[V]`` int64: the objectless interaction of each verb, -1 where it has none."""
        import torch

        table = torch.full((self.num_verbs,), -1, dtype=torch.long)
        idx = torch.tensor(self.objectless_interactions, dtype=torch.long)
        table[self.interaction_verb[idx]] = idx
        return table

    @cached_property
    def verb_to_interaction(self) -> Tensor:
        """``[V, I]`` float32 0/1 matrix: verb v is the verb of interaction i."""
        import torch

        m = torch.zeros(self.num_verbs, self.num_interactions)
        m[self.interaction_verb, torch.arange(self.num_interactions)] = 1.0
        return m

    @cached_property
    def object_to_interaction(self) -> Tensor:
        """``[O, I]`` float32 0/1 matrix: object o is the object of interaction i.

        Columns of objectless interactions are zero.
        """
        import torch

        m = torch.zeros(self.num_objects, self.num_interactions)
        has_obj = self.interaction_object >= 0
        m[self.interaction_object[has_obj], torch.arange(self.num_interactions)[has_obj]] = 1.0
        return m

    @cached_property
    def correspondence(self) -> Tensor:
        """``[V, O]`` bool valid (verb, object) combinations (``corre_hico.npy``'s content)."""
        return self.interaction_table >= 0

    @cached_property
    def object_index_of_id(self) -> dict[int, int]:
        return {cid: i for i, cid in enumerate(self.object_ids)}

    @cached_property
    def verb_index_of_id(self) -> dict[int, int]:
        return {vid: i for i, vid in enumerate(self.verb_ids)}

    def interaction_index(self, verb: int, obj: int) -> int:
        """Interaction index of (verb index, object index), -1 when the pair is not a class.

        ``obj = -1`` asks for the verb's objectless interaction.
        """
        if obj < 0:
            return int(self.objectless_table[verb])
        return int(self.interaction_table[verb, obj])

    def pair_interactions(self, verbs: Tensor, obj_labels: Tensor) -> Tensor:
        """Multi-hot interactions ``[M, I]`` of pairs from verbs ``[M, V]`` and objects ``[M]``.

        A pair whose object label is out of range (``-1`` or ``>= num_objects``: no object)
        maps its verbs to their objectless interactions; without any (HICO-DET) its row is all
        zero. (verb, object) combinations outside the label space are dropped.
        """
        import torch

        valid = (obj_labels >= 0) & (obj_labels < self.num_objects)
        obj_mask = torch.zeros(obj_labels.shape[0], self.num_objects, device=verbs.device)
        obj_mask[valid, obj_labels[valid]] = 1.0
        v2i = self.verb_to_interaction.to(verbs.device)
        o2i = self.object_to_interaction.to(verbs.device)
        out = (verbs.float() @ v2i) * (obj_mask @ o2i)  # [M, I]
        if self.objectless_interactions:
            objectless = torch.zeros(self.num_interactions, device=verbs.device)
            objectless[list(self.objectless_interactions)] = 1.0
            no_obj = (~valid).float().unsqueeze(-1)  # [M, 1]
            out = out + (verbs.float() @ v2i) * objectless * no_obj
        return out

    # ---- splits -----------------------------------------------------------------------------
    @cached_property
    def non_rare_interactions(self) -> tuple[int, ...]:
        rare = set(self.rare_interactions)
        return tuple(i for i in range(self.num_interactions) if i not in rare)

    def zero_shot_split(self, name: str) -> ZeroShotSplit:
        if name not in self.zero_shot:
            raise DataError(
                f"label space {self.name!r} has no zero-shot split {name!r}; "
                f"it has {sorted(self.zero_shot)}"
            )
        return self.zero_shot[name]

    def seen_interactions(self, split: str) -> tuple[int, ...]:
        unseen = set(self.zero_shot_split(split).unseen_interactions)
        return tuple(i for i in range(self.num_interactions) if i not in unseen)

    # ---- text -------------------------------------------------------------------------------
    def prompts(self, template: str = "a photo of {}") -> list[str]:
        """One prompt per interaction: ``template`` filled with the interaction phrase."""
        return [template.format(p) for p in self.interaction_phrases]

    # ---- (de)serialisation ------------------------------------------------------------------
    def to_json_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "objects": [{"name": n, "id": i} for n, i in zip(self.objects, self.object_ids)],
            "human_object": self.objects[self.human_label],
            "verbs": [
                {"name": n, "id": i, "ing": g}
                for n, i, g in zip(self.verbs, self.verb_ids, self.verb_ing)
            ],
            "interactions": [
                {"verb": self.verbs[v], "object": self.objects[o] if o >= 0 else None, "phrase": p}
                for (v, o), p in zip(self.interactions, self.interaction_phrases)
            ],
            "rare": {"threshold": self.rare_threshold,
                     "interactions": list(self.rare_interactions)},
            "zero_shot": {
                k: {"unseen_interactions": list(s.unseen_interactions),
                    "unseen_objects": list(s.unseen_objects),
                    "unseen_verbs": list(s.unseen_verbs)}
                for k, s in self.zero_shot.items()
            },
            "verb_roles": [list(r) for r in self.verb_roles],
            **self.extra,
        }


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise DataError(f"{where}: missing field {key!r}")
    return data[key]


def _index_list(values: Any, size: int, where: str) -> tuple[int, ...]:
    if not isinstance(values, list) or not all(isinstance(v, int) for v in values):
        raise DataError(f"{where}: expected a list of integers")
    bad = [v for v in values if not 0 <= v < size]
    if bad:
        raise DataError(f"{where}: indices {bad[:5]} out of range [0, {size})")
    if len(set(values)) != len(values):
        raise DataError(f"{where}: duplicate indices")
    return tuple(values)


def _check_extra(data: dict[str, Any], objects: tuple[str, ...], verbs: tuple[str, ...],
                 where: str) -> None:
    """Validate the optional fields documented in ``label_spaces/README.md``."""
    order = data.get("official_object_order")
    if order is not None and sorted(order) != sorted(objects):
        raise DataError(f"{where}: official_object_order must list every object exactly once")
    low = data.get("low_data")
    if low is not None:
        fractions = low.get("fractions") if isinstance(low, dict) else None
        if (not isinstance(fractions, list) or not fractions
                or not all(isinstance(f, (int, float)) and 0 < f <= 1 for f in fractions)
                or not isinstance(low.get("seed"), int)):
            raise DataError(f"{where}: low_data needs 'fractions' in (0, 1] and an integer 'seed'")
    official = data.get("vcoco_official")
    if official is not None:
        try:
            roles = {a["name"]: a["roles"] for a in official["actions"]}
            mapping = [(m["verb"], m["action"], m["role"]) for m in official["verb_action_role"]]
        except (KeyError, TypeError) as err:
            raise DataError(f"{where}: vcoco_official is malformed ({err!r})") from None
        if ([v for v, _, _ in mapping] != list(verbs)
                or any(r not in roles.get(a, ()) for _, a, r in mapping)):
            raise DataError(f"{where}: vcoco_official.verb_action_role must map every verb, in "
                            "order, to an (action, role) of vcoco_official.actions")


def label_space_from_dict(data: dict[str, Any], where: str = "<dict>") -> LabelSpace:
    """Build and validate a ``LabelSpace`` from its JSON form; errors name ``where`` + field."""
    known = {"name", "objects", "human_object", "verbs", "interactions", "rare", "zero_shot",
             "verb_roles"}
    objects = _require(data, "objects", where)
    verbs = _require(data, "verbs", where)
    try:
        obj_names = tuple(str(o["name"]) for o in objects)
        obj_ids = tuple(int(o["id"]) for o in objects)
        verb_names = tuple(str(v["name"]) for v in verbs)
        verb_ids = tuple(int(v["id"]) for v in verbs)
        verb_ing = tuple(str(v.get("ing", v["name"])) for v in verbs)
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{where}: objects/verbs entries need 'name' and 'id' ({err})") from None
    for field_name, names in (("objects", obj_names), ("verbs", verb_names)):
        if len(set(names)) != len(names):
            raise DataError(f"{where}: field {field_name!r} has duplicate names")
    obj_index = {n: i for i, n in enumerate(obj_names)}
    verb_index = {n: i for i, n in enumerate(verb_names)}
    pairs, phrases = [], []
    for k, inter in enumerate(_require(data, "interactions", where)):
        try:
            obj = inter["object"]  # null: an objectless interaction (V-COCO)
            pairs.append((verb_index[inter["verb"]], -1 if obj is None else obj_index[obj]))
        except KeyError as err:
            raise DataError(f"{where}: interactions[{k}] names unknown class {err}") from None
        default = f"a person {inter['verb']}" + ("" if obj is None else f" a {obj}")
        phrases.append(str(inter.get("phrase", default)))
    if len(set(pairs)) != len(pairs):
        raise DataError(f"{where}: field 'interactions' repeats a (verb, object) pair")
    human = _require(data, "human_object", where)
    if human not in obj_index:
        raise DataError(f"{where}: human_object {human!r} is not an object class")
    num_i = len(pairs)
    rare = data.get("rare", {})
    zero_shot = {}
    for name, split in data.get("zero_shot", {}).items():
        w = f"{where}: zero_shot.{name}"
        zero_shot[name] = ZeroShotSplit(
            name=name,
            unseen_interactions=_index_list(
                split.get("unseen_interactions", []), num_i, f"{w}.unseen_interactions"),
            unseen_objects=_index_list(
                split.get("unseen_objects", []), len(obj_names), f"{w}.unseen_objects"),
            unseen_verbs=_index_list(
                split.get("unseen_verbs", []), len(verb_names), f"{w}.unseen_verbs"),
        )
    _check_extra(data, obj_names, verb_names, where)
    roles = tuple(tuple(r) for r in data.get("verb_roles", []))
    if roles and len(roles) != len(verb_names):
        raise DataError(f"{where}: verb_roles has {len(roles)} entries for {len(verb_names)} verbs")
    return LabelSpace(
        name=str(_require(data, "name", where)),
        objects=obj_names,
        object_ids=obj_ids,
        verbs=verb_names,
        verb_ids=verb_ids,
        verb_ing=verb_ing,
        interactions=tuple(pairs),
        interaction_phrases=tuple(phrases),
        human_label=obj_index[human],
        rare_threshold=int(rare.get("threshold", 10)),
        rare_interactions=_index_list(rare.get("interactions", []), num_i, f"{where}: rare"),
        zero_shot=zero_shot,
        verb_roles=roles,
        extra={k: v for k, v in data.items() if k not in known},
    )


def available_label_spaces() -> list[str]:
    return sorted(p.stem for p in LABEL_SPACE_DIR.glob("*.json"))


def load_label_space(name_or_path: str | Path) -> LabelSpace:
    """Load a shipped label space by name (``hicodet``, ``vcoco``, ``synthetic``) or a JSON path."""
    path = Path(name_or_path)
    if not path.is_file():
        shipped = LABEL_SPACE_DIR / f"{name_or_path}.json"
        if not shipped.is_file():
            raise DataError(
                f"label space {str(name_or_path)!r} is neither a JSON file nor one of "
                f"{available_label_spaces()}"
            )
        path = shipped
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: a label space must be a JSON object")
    return label_space_from_dict(data, where=str(path))


def interaction_names(space: LabelSpace, indices: Sequence[int] | None = None) -> list[str]:
    """``verb object`` names of interactions (all when ``indices`` is None), for tables."""
    idx = range(space.num_interactions) if indices is None else indices
    names = []
    for i in idx:
        v, o = space.interactions[i]
        names.append(f"{space.verbs[v]} {space.objects[o] if o >= 0 else '(no object)'}")
    return names


def normalize_name(name: str) -> str:
    """A class name compared across label spaces: lower case, underscores as spaces, single
    spaces (``Sit_on`` = ``sit on``)."""
    return " ".join(name.replace("_", " ").lower().split())


def class_index_maps(base: LabelSpace, new: LabelSpace
                     ) -> tuple[list[int], list[int], list[int]]:
    """Index in ``base`` of every interaction, object and verb of ``new`` (-1: not in
    ``base``), names matched with ``normalize_name``."""
    obj_of = {normalize_name(o): i for i, o in enumerate(base.objects)}
    verb_of = {normalize_name(v): i for i, v in enumerate(base.verbs)}
    objects = [obj_of.get(normalize_name(o), -1) for o in new.objects]
    verbs = [verb_of.get(normalize_name(v), -1) for v in new.verbs]
    interactions = []
    for v, o in new.interactions:
        bv, bo = verbs[v], (objects[o] if o >= 0 else -1)
        interactions.append(base.interaction_index(bv, bo) if bv >= 0 and bo >= 0 else -1)
    return interactions, objects, verbs
