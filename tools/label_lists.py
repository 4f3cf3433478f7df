"""The HICO-DET and V-COCO class lists, typed out once, from which make_label_spaces.py builds the
label-space JSON files. Every list says where it comes from; check_label_spaces.py re-derives each
one from the reference files and compares.

Conventions: objects are named as in COCO (``sports ball``), verbs as in HICO-DET's
``hico_list_vb`` / V-COCO's action_role names; index lists are 0-based positions in the lists here.
"""

# ---- objects -----------------------------------------------------------------------------------
# COCO category id and name of the 80 object classes, in COCO id order. This is GEN-VLKT's /
# HOICLIP's ``_valid_obj_ids`` (datasets/hico.py, datasets/vcoco.py) with the names of their
# ``hico_obj_text_label`` (datasets/hico_text_label.py).
COCO_OBJECTS = """
1 person
2 bicycle
3 car
4 motorcycle
5 airplane
6 bus
7 train
8 truck
9 boat
10 traffic light
11 fire hydrant
13 stop sign
14 parking meter
15 bench
16 bird
17 cat
18 dog
19 horse
20 sheep
21 cow
22 elephant
23 bear
24 zebra
25 giraffe
27 backpack
28 umbrella
31 handbag
32 tie
33 suitcase
34 frisbee
35 skis
36 snowboard
37 sports ball
38 kite
39 baseball bat
40 baseball glove
41 skateboard
42 surfboard
43 tennis racket
44 bottle
46 wine glass
47 cup
48 fork
49 knife
50 spoon
51 bowl
52 banana
53 apple
54 sandwich
55 orange
56 broccoli
57 carrot
58 hot dog
59 pizza
60 donut
61 cake
62 chair
63 couch
64 potted plant
65 bed
67 dining table
70 toilet
72 tv
73 laptop
74 mouse
75 remote
76 keyboard
77 cell phone
78 microwave
79 oven
80 toaster
81 sink
82 refrigerator
84 book
85 clock
86 vase
87 scissors
88 teddy bear
89 hair drier
90 toothbrush
"""

# Objects GEN-VLKT's prompts write with "an" (all others get "a", including "a umbrella").
AN_OBJECTS = frozenset({"airplane", "apple", "elephant", "orange", "oven"})

# ---- HICO-DET verbs ------------------------------------------------------------------------------
# HICO-DET's 117 verbs in official order (hico_list_vb: fredzzhang/hicodet instances_*.json
# "verbs"); annotation category_id = position + 1. After "|": the verb form GEN-VLKT's prompts use
# (datasets/hico_text_label.py), "and" for no_interaction ("a person and a horse").
HICO_VERBS = """
adjust|adjusting
assemble|assembling
block|blocking
blow|blowing
board|boarding
break|breaking
brush_with|brushing with
buy|buying
carry|carrying
catch|catching
chase|chasing
check|checking
clean|cleaning
control|controlling
cook|cooking
cut|cutting
cut_with|cutting with
direct|directing
drag|dragging
dribble|dribbling
drink_with|drinking with
drive|driving
dry|drying
eat|eating
eat_at|eating at
exit|exiting
feed|feeding
fill|filling
flip|flipping
flush|flushing
fly|flying
greet|greeting
grind|grinding
groom|grooming
herd|herding
hit|hitting
hold|holding
hop_on|hopping on
hose|hosing
hug|hugging
hunt|hunting
inspect|inspecting
install|installing
jump|jumping
kick|kicking
kiss|kissing
lasso|lassoing
launch|launching
lick|licking
lie_on|lying on
lift|lifting
light|lighting
load|loading
lose|losing
make|making
milk|milking
move|moving
no_interaction|and
open|opening
operate|operating
pack|packing
paint|painting
park|parking
pay|paying
peel|peeling
pet|petting
pick|picking
pick_up|picking up
point|pointing
pour|pouring
pull|pulling
push|pushing
race|racing
read|reading
release|releasing
repair|repairing
ride|riding
row|rowing
run|running
sail|sailing
scratch|scratching
serve|serving
set|setting
shear|shearing
sign|signing
sip|sipping
sit_at|sitting at
sit_on|sitting on
slide|sliding
smell|smelling
spin|spinning
squeeze|squeezing
stab|stabbing
stand_on|standing on
stand_under|standing under
stick|sticking
stir|stirring
stop_at|stopping at
straddle|straddling
swing|swinging
tag|tagging
talk_on|talking on
teach|teaching
text_on|texting on
throw|throwing
tie|tying
toast|toasting
train|training
turn|turning
type_on|typing on
walk|walking
wash|washing
watch|watching
wave|waving
wear|wearing
wield|wielding
zip|zipping
"""

# ---- HICO-DET object order -----------------------------------------------------------------------
# HICO-DET's own object order (hico_list_obj, alphabetical; fredzzhang/hicodet instances_*.json
# "objects", underscores written as spaces). Tools in the fredzzhang/UPT family index objects in
# this order; openhoi indexes them in COCO order (COCO_OBJECTS).
HICO_OBJECT_ORDER = (
    "airplane", "apple", "backpack", "banana", "baseball bat", "baseball glove", "bear", "bed",
    "bench", "bicycle", "bird", "boat", "book", "bottle", "bowl", "broccoli", "bus", "cake",
    "car", "carrot", "cat", "cell phone", "chair", "clock", "couch", "cow", "cup",
    "dining table", "dog", "donut", "elephant", "fire hydrant", "fork", "frisbee", "giraffe",
    "hair drier", "handbag", "horse", "hot dog", "keyboard", "kite", "knife", "laptop",
    "microwave", "motorcycle", "mouse", "orange", "oven", "parking meter", "person", "pizza",
    "potted plant", "refrigerator", "remote", "sandwich", "scissors", "sheep", "sink",
    "skateboard", "skis", "snowboard", "spoon", "sports ball", "stop sign", "suitcase",
    "surfboard", "teddy bear", "tennis racket", "tie", "toaster", "toilet", "toothbrush",
    "traffic light", "train", "truck", "tv", "umbrella", "vase", "wine glass", "zebra",
)

# ---- HICO-DET interactions --------------------------------------------------------------------
# The 600 interactions in official order (hico_list_hoi; fredzzhang/hicodet "correspondence",
# GEN-VLKT hico_text_label key order, HOICLIP static_hico.HOI_IDX_TO_ACT_IDX/OBJ_IDX agree).
# The official list is grouped by object (the 20 PASCAL VOC classes first, alphabetically, then the
# other 60, alphabetically); each line below is one object's interactions, in order (indented
# lines continue the line above). Annotation hoi_category_id = index + 1.
HICO_INTERACTIONS = """
airplane: board direct exit fly inspect load ride sit_on wash no_interaction
bicycle: carry hold inspect jump hop_on park push repair ride sit_on straddle walk wash
    no_interaction
bird: chase feed hold pet release watch no_interaction
boat: board drive exit inspect jump launch repair ride row sail sit_on stand_on tie wash
    no_interaction
bottle: carry drink_with hold inspect lick open pour no_interaction
bus: board direct drive exit inspect load ride sit_on wash wave no_interaction
car: board direct drive hose inspect jump load park ride wash no_interaction
cat: dry feed hold hug kiss pet scratch wash chase no_interaction
chair: carry hold lie_on sit_on stand_on no_interaction
couch: carry lie_on sit_on no_interaction
cow: feed herd hold hug kiss lasso milk pet ride walk no_interaction
dining table: clean eat_at sit_at no_interaction
dog: carry dry feed groom hold hose hug inspect kiss pet run scratch straddle train walk wash
    chase no_interaction
horse: feed groom hold hug jump kiss load hop_on pet race ride run straddle train walk wash
    no_interaction
motorcycle: hold inspect jump hop_on park push race ride sit_on straddle turn walk wash
    no_interaction
person: carry greet hold hug kiss stab tag teach lick no_interaction
potted plant: carry hold hose no_interaction
sheep: carry feed herd hold hug kiss pet ride shear walk wash no_interaction
train: board drive exit load ride sit_on wash no_interaction
tv: control repair watch no_interaction
apple: buy cut eat hold inspect peel pick smell wash no_interaction
backpack: carry hold inspect open wear no_interaction
banana: buy carry cut eat hold inspect peel pick smell no_interaction
baseball bat: break carry hold sign swing throw wield no_interaction
baseball glove: hold wear no_interaction
bear: feed hunt watch no_interaction
bed: clean lie_on sit_on no_interaction
bench: inspect lie_on sit_on no_interaction
book: carry hold open read no_interaction
bowl: hold stir wash lick no_interaction
broccoli: cut eat hold smell stir wash no_interaction
cake: blow carry cut eat hold light make pick_up no_interaction
carrot: carry cook cut eat hold peel smell stir wash no_interaction
cell phone: carry hold read repair talk_on text_on no_interaction
clock: check hold repair set no_interaction
cup: carry drink_with hold inspect pour sip smell fill wash no_interaction
donut: buy carry eat hold make pick_up smell no_interaction
elephant: feed hold hose hug kiss hop_on pet ride walk wash watch no_interaction
fire hydrant: hug inspect open paint no_interaction
fork: hold lift stick lick wash no_interaction
frisbee: block catch hold spin throw no_interaction
giraffe: feed kiss pet ride watch no_interaction
hair drier: hold operate repair no_interaction
handbag: carry hold inspect no_interaction
hot dog: carry cook cut eat hold make no_interaction
keyboard: carry clean hold type_on no_interaction
kite: assemble carry fly hold inspect launch pull no_interaction
knife: cut_with hold stick wash wield lick no_interaction
laptop: hold open read repair type_on no_interaction
microwave: clean open operate no_interaction
mouse: control hold repair no_interaction
orange: buy cut eat hold inspect peel pick squeeze wash no_interaction
oven: clean hold inspect open repair operate no_interaction
parking meter: check pay repair no_interaction
pizza: buy carry cook cut eat hold make pick_up slide smell no_interaction
refrigerator: clean hold move open no_interaction
remote: hold point swing no_interaction
sandwich: carry cook cut eat hold make no_interaction
scissors: cut_with hold open no_interaction
sink: clean repair wash no_interaction
skateboard: carry flip grind hold jump pick_up ride sit_on stand_on no_interaction
skis: adjust carry hold inspect jump pick_up repair ride stand_on wear no_interaction
snowboard: adjust carry grind hold jump ride stand_on wear no_interaction
spoon: hold lick wash sip no_interaction
sports ball: block carry catch dribble hit hold inspect kick pick_up serve sign spin throw
    no_interaction
stop sign: hold stand_under stop_at no_interaction
suitcase: carry drag hold hug load open pack pick_up zip no_interaction
surfboard: carry drag hold inspect jump lie_on load ride stand_on sit_on wash no_interaction
teddy bear: carry hold hug kiss no_interaction
tennis racket: carry hold inspect swing no_interaction
tie: adjust cut hold inspect pull tie wear no_interaction
toaster: hold operate repair no_interaction
toilet: clean flush open repair sit_on stand_on wash no_interaction
toothbrush: brush_with hold wash no_interaction
traffic light: install repair stand_under stop_at no_interaction
truck: direct drive inspect load repair ride sit_on wash no_interaction
umbrella: carry hold lose open repair set stand_under no_interaction
vase: hold make paint no_interaction
wine glass: fill hold sip toast lick wash no_interaction
zebra: feed hold pet watch no_interaction
"""

# Rare interactions: fewer than 10 training instances (HICO-DET, Chao et al. WACV 2018).
# fredzzhang/hicodet instances_test2015.json "rare" (from anno_bbox.mat); HOICLIP
# static_hico.RARE_HOI_IDX is the same set.
HICO_RARE_THRESHOLD = 10
HICO_RARE = (
    8, 22, 27, 44, 50, 55, 62, 63, 66, 70, 76, 77, 80, 83, 84, 90, 99, 100, 104, 107, 112, 127,
    135, 136, 149, 158, 165, 166, 168, 172, 179, 181, 184, 188, 189, 192, 195, 198, 205, 206,
    214, 216, 222, 227, 229, 238, 239, 254, 255, 257, 260, 261, 262, 274, 279, 280, 281, 286,
    289, 292, 303, 311, 315, 317, 325, 328, 333, 334, 345, 350, 351, 354, 358, 364, 379, 381,
    389, 390, 391, 395, 397, 398, 399, 401, 402, 403, 404, 405, 407, 410, 416, 418, 426, 427,
    429, 431, 436, 439, 440, 449, 451, 463, 469, 474, 482, 485, 498, 499, 504, 509, 514, 517,
    520, 522, 526, 531, 535, 539, 546, 547, 548, 549, 550, 551, 552, 555, 556, 560, 578, 580,
    581, 586, 592, 593, 595, 596, 597, 599,
)

# Zero-shot splits: GEN-VLKT/HOICLIP datasets/hico_text_label.py hico_unseen_index ("start from
# 0"), sorted here (their order carries no meaning: the code only tests membership).
# rare_first (RF-UC, 120 unseen, all rare):
HICO_RF_UC = (
    8, 22, 27, 44, 50, 55, 62, 66, 70, 76, 77, 80, 83, 84, 90, 99, 100, 104, 107, 127, 135, 136,
    149, 158, 168, 179, 181, 184, 188, 189, 192, 195, 198, 205, 206, 216, 222, 229, 238, 239,
    254, 255, 257, 260, 261, 262, 274, 279, 280, 281, 286, 289, 292, 303, 311, 315, 317, 325,
    333, 334, 345, 350, 351, 354, 358, 364, 379, 381, 389, 390, 391, 395, 397, 398, 399, 401,
    402, 403, 405, 407, 410, 416, 418, 427, 429, 436, 439, 440, 449, 463, 469, 474, 482, 485,
    498, 499, 504, 509, 517, 520, 522, 526, 531, 535, 539, 546, 547, 548, 552, 555, 556, 560,
    581, 586, 592, 593, 595, 596, 597, 599,
)
# non_rare_first (NF-UC, 120 unseen, all non-rare):
HICO_NF_UC = (
    6, 7, 9, 11, 18, 19, 20, 23, 25, 29, 38, 41, 42, 45, 48, 53, 54, 56, 60, 61, 64, 67, 73, 75,
    89, 91, 93, 94, 106, 110, 115, 131, 139, 140, 141, 146, 152, 153, 154, 155, 159, 162, 163,
    169, 173, 176, 185, 190, 191, 193, 197, 208, 212, 215, 218, 223, 226, 228, 230, 240, 245,
    246, 248, 249, 250, 266, 284, 294, 297, 304, 308, 312, 320, 323, 329, 337, 338, 340, 346,
    370, 371, 374, 377, 383, 385, 387, 417, 446, 455, 456, 457, 459, 461, 470, 471, 472, 478,
    479, 480, 481, 483, 493, 506, 508, 515, 516, 518, 529, 534, 544, 559, 566, 572, 575, 576,
    577, 582, 583, 589, 594,
)
# unseen_object (UO): the unseen objects, then their interactions (every one of them).
HICO_UO_OBJECTS = (
    "dog", "elephant", "zebra", "frisbee", "skis", "baseball bat", "skateboard",
    "tennis racket", "pizza", "refrigerator", "clock", "toothbrush",
)
HICO_UO = (
    111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128,
    224, 225, 226, 227, 228, 229, 230, 231, 290, 291, 292, 293, 294, 313, 314, 315, 316, 317,
    318, 319, 320, 321, 322, 323, 324, 336, 337, 338, 339, 340, 341, 418, 419, 420, 421, 422,
    423, 424, 425, 426, 427, 428, 429, 430, 431, 432, 433, 453, 454, 455, 456, 457, 458, 459,
    460, 461, 462, 463, 464, 465, 466, 467, 468, 469, 470, 471, 472, 473, 533, 534, 535, 536,
    537, 558, 559, 560, 561, 595, 596, 597, 598, 599,
)
# unseen_verb (UV): the unseen verbs (GEN-VLKT's comment lists their 0-based indices), then
# their interactions (every one of them).
HICO_UV_VERBS = (
    "block", "dribble", "feed", "herd", "hose", "inspect", "install", "move", "park", "ride",
    "sail", "scratch", "sign", "squeeze", "stab", "stop_at", "swing", "tag", "toast", "wear",
)
HICO_UV = (
    4, 6, 12, 15, 18, 25, 34, 38, 40, 49, 58, 60, 68, 69, 72, 73, 77, 82, 96, 97, 104, 113, 116,
    118, 122, 129, 139, 147, 150, 153, 165, 166, 172, 175, 176, 181, 190, 202, 210, 212, 219,
    227, 228, 233, 235, 243, 298, 313, 315, 320, 326, 336, 342, 345, 354, 372, 401, 404, 409,
    431, 436, 459, 466, 470, 472, 479, 481, 488, 491, 494, 498, 504, 519, 523, 535, 536, 541,
    544, 562, 565, 569, 572, 591, 595,
)
# HOICLIP's five further unseen-combination splits (hico_unseen_index["uc0"] ... ["uc4"]).
HICO_UC = {
    "uc0": (
        0, 1, 10, 29, 30, 41, 48, 50, 56, 57, 69, 72, 80, 81, 92, 93, 96, 109, 110, 114,
        127, 134, 139, 161, 170, 177, 183, 189, 191, 197, 198, 201, 208, 209, 221, 227, 229,
        232, 233, 235, 239, 242, 245, 247, 250, 252, 260, 263, 270, 271, 280, 286, 288, 290,
        299, 301, 308, 316, 325, 334, 336, 343, 344, 352, 355, 356, 357, 363, 375, 376, 380,
        384, 387, 389, 395, 396, 397, 404, 408, 413, 414, 417, 422, 425, 433, 434, 436, 444,
        448, 452, 454, 455, 463, 480, 484, 488, 498, 503, 505, 507, 513, 516, 527, 530, 532,
        536, 537, 540, 546, 547, 550, 555, 561, 562, 566, 567, 572, 581, 587, 598,
    ),
    "uc1": (
        0, 3, 22, 29, 32, 52, 58, 63, 72, 73, 78, 89, 91, 92, 105, 106, 107, 113, 137, 148,
        163, 165, 172, 178, 179, 194, 196, 207, 209, 210, 214, 215, 229, 231, 233, 234, 236,
        240, 241, 243, 245, 247, 252, 254, 260, 262, 269, 272, 282, 286, 289, 292, 296, 302,
        310, 315, 322, 326, 333, 335, 338, 340, 343, 347, 350, 351, 353, 354, 358, 362, 367,
        368, 376, 380, 388, 389, 393, 395, 397, 399, 410, 412, 416, 417, 419, 420, 429, 434,
        439, 441, 445, 449, 454, 467, 476, 483, 495, 503, 507, 511, 519, 528, 529, 535, 537,
        539, 547, 548, 556, 557, 561, 563, 565, 569, 579, 587, 589, 591, 595, 597,
    ),
    "uc2": (
        9, 25, 30, 49, 51, 61, 71, 74, 77, 82, 94, 108, 110, 116, 126, 131, 143, 164, 168,
        177, 185, 200, 201, 208, 212, 229, 232, 234, 239, 241, 243, 244, 248, 255, 256, 258,
        259, 266, 272, 279, 281, 287, 288, 290, 294, 295, 301, 305, 308, 319, 322, 325, 328,
        330, 332, 337, 344, 347, 349, 350, 356, 359, 366, 367, 370, 375, 378, 380, 386, 387,
        390, 391, 400, 406, 409, 411, 416, 419, 428, 429, 431, 436, 439, 443, 445, 447, 449,
        451, 454, 457, 466, 468, 477, 479, 485, 486, 491, 497, 504, 508, 510, 516, 527, 529,
        531, 533, 536, 544, 545, 546, 549, 550, 552, 558, 561, 568, 589, 594, 596, 599,
    ),
    "uc3": (
        4, 14, 26, 27, 41, 45, 51, 53, 62, 69, 74, 80, 88, 91, 92, 93, 100, 107, 110, 125,
        127, 130, 136, 152, 153, 163, 167, 170, 177, 183, 186, 188, 196, 200, 207, 210, 217,
        220, 225, 232, 237, 242, 243, 246, 248, 252, 253, 263, 267, 270, 280, 285, 289, 291,
        292, 302, 312, 316, 325, 335, 341, 343, 348, 355, 356, 362, 363, 368, 378, 382, 384,
        385, 390, 394, 396, 404, 406, 407, 415, 416, 426, 428, 429, 431, 435, 441, 443, 448,
        450, 452, 454, 460, 467, 469, 479, 480, 483, 498, 503, 505, 509, 518, 524, 532, 533,
        541, 549, 551, 560, 561, 566, 572, 573, 579, 580, 585, 587, 594, 595, 599,
    ),
    "uc4": (
        0, 4, 28, 29, 42, 43, 49, 53, 55, 56, 66, 72, 80, 81, 87, 90, 92, 94, 100, 103, 109,
        110, 129, 137, 149, 159, 166, 167, 170, 171, 179, 182, 189, 193, 194, 195, 201, 206,
        236, 237, 244, 245, 248, 249, 254, 255, 257, 258, 266, 270, 290, 292, 300, 303, 316,
        317, 326, 327, 331, 333, 339, 340, 345, 347, 349, 350, 352, 353, 357, 362, 365, 366,
        375, 380, 381, 383, 385, 395, 396, 425, 426, 446, 448, 450, 451, 458, 466, 470, 474,
        476, 485, 487, 494, 495, 504, 505, 509, 515, 516, 525, 528, 529, 536, 537, 539, 541,
        546, 548, 556, 557, 568, 572, 578, 582, 585, 586, 590, 593, 595, 597,
    ),
}

# ---- V-COCO ------------------------------------------------------------------------------------
# The 26 actions of s-gupta/v-coco (data/vcoco/vcoco_*.json "action_name", "role_name") in official
# order, with their roles.
VCOCO_ACTIONS = """
hold agent obj
stand agent
sit agent instr
ride agent instr
walk agent
look agent obj
hit agent instr obj
eat agent obj instr
jump agent instr
lay agent instr
talk_on_phone agent instr
carry agent obj
throw agent obj
catch agent obj
cut agent instr obj
run agent
work_on_computer agent instr
ski agent instr
surf agent instr
skateboard agent instr
smile agent
drink agent instr
kick agent obj
point agent instr
read agent obj
snowboard agent instr
"""

# The verb form of each V-COCO verb class in GEN-VLKT's prompts (datasets/vcoco_text_label.py),
# by action_role name. The verb classes themselves are derived from VCOCO_ACTIONS the way
# GEN-VLKT's tools/convert_vcoco_annotations.py does: an action with the agent role only is one
# class named after the action; any other action gives one class "<action>_<role>" per non-agent
# role, in role order. trainval_vcoco.json category_id = position in that list.
VCOCO_VERB_ING = {
    "hold_obj": "holding", "stand": "standing", "sit_instr": "sitting", "ride_instr": "riding",
    "walk": "walking", "look_obj": "looking at", "hit_instr": "hitting with",
    "hit_obj": "hitting", "eat_obj": "eating", "eat_instr": "eating with",
    "jump_instr": "jumping", "lay_instr": "laying", "talk_on_phone_instr": "talking on phone",
    "carry_obj": "carrying", "throw_obj": "throwing", "catch_obj": "catching",
    "cut_instr": "cutting with", "cut_obj": "cutting", "run": "running",
    "work_on_computer_instr": "working on computer", "ski_instr": "skiing",
    "surf_instr": "surfing", "skateboard_instr": "skateboarding", "smile": "smiling",
    "drink_instr": "drinking", "kick_obj": "kicking", "point_instr": "pointing",
    "read_obj": "reading", "snowboard_instr": "snowboarding",
}

# The 263 (verb class, object) triplet classes in GEN-VLKT's vcoco_hoi_text_label key order
# (the order of its interaction classifier). "-" = no object (a role left empty, or an agent-only
# action): GEN-VLKT's object index 80.
VCOCO_INTERACTIONS = """
hold_obj|cup, cut_instr|-, cut_obj|pizza, hold_obj|pizza
sit_instr|-, eat_obj|pizza, eat_instr|-, smile|-
surf_instr|surfboard, hold_obj|book, sit_instr|bench, look_obj|book
read_obj|book, stand|-, skateboard_instr|skateboard, ski_instr|skis
hold_obj|-, eat_obj|-, sit_instr|chair, look_obj|laptop
work_on_computer_instr|laptop, hold_obj|wine glass, drink_instr|wine glass, look_obj|snowboard
snowboard_instr|snowboard, hold_obj|scissors, look_obj|-, look_obj|scissors
cut_instr|scissors, cut_obj|-, look_obj|surfboard, sit_instr|horse
ride_instr|horse, walk|-, look_obj|frisbee, jump_instr|-
throw_obj|frisbee, run|-, look_obj|pizza, hold_obj|sandwich
eat_obj|sandwich, hold_obj|cell phone, work_on_computer_instr|-, hold_obj|backpack
carry_obj|backpack, lay_instr|-, lay_instr|couch, hold_obj|horse
hold_obj|cat, lay_instr|bed, catch_obj|frisbee, ride_instr|-
talk_on_phone_instr|cell phone, hold_obj|snowboard, jump_instr|snowboard, look_obj|skateboard
jump_instr|skateboard, hold_obj|toothbrush, read_obj|-, hold_obj|bottle
drink_instr|bottle, sit_instr|bed, look_obj|sandwich, hold_obj|skis
hold_obj|tennis racket, look_obj|sports ball, hit_instr|tennis racket, hit_obj|sports ball
look_obj|person, look_obj|horse, hold_obj|apple, look_obj|sheep
eat_obj|apple, kick_obj|sports ball, hold_obj|spoon, look_obj|cake
eat_obj|cake, eat_instr|spoon, hold_obj|laptop, hit_instr|-
sit_instr|motorcycle, ride_instr|motorcycle, hold_obj|knife, look_obj|knife
cut_instr|knife, cut_obj|cake, hit_obj|-, hold_obj|baseball bat
hit_instr|baseball bat, catch_obj|-, sit_instr|couch, hold_obj|teddy bear
carry_obj|orange, hold_obj|fork, eat_instr|fork, look_obj|tv
hold_obj|suitcase, carry_obj|suitcase, sit_instr|elephant, ride_instr|elephant
look_obj|cat, hold_obj|chair, look_obj|dining table, drink_instr|cup
throw_obj|-, carry_obj|handbag, look_obj|dog, hold_obj|banana
carry_obj|banana, look_obj|suitcase, eat_instr|knife, hold_obj|surfboard
carry_obj|surfboard, eat_obj|donut, hold_obj|person, hold_obj|baseball glove
hold_obj|remote, hold_obj|donut, hold_obj|handbag, carry_obj|-
carry_obj|person, hold_obj|sports ball, throw_obj|sports ball, look_obj|donut
hold_obj|bicycle, sit_instr|bicycle, ride_instr|bicycle, look_obj|bicycle
kick_obj|-, look_obj|cell phone, look_obj|train, hold_obj|frisbee
hold_obj|skateboard, ride_instr|truck, point_instr|laptop, hold_obj|motorcycle
carry_obj|skis, hold_obj|umbrella, look_obj|bowl, cut_obj|carrot
hold_obj|hot dog, eat_obj|hot dog, hold_obj|kite, look_obj|bench
talk_on_phone_instr|-, skateboard_instr|-, look_obj|baseball glove, catch_obj|sports ball
point_instr|-, carry_obj|umbrella, look_obj|wine glass, jump_instr|surfboard
look_obj|kite, carry_obj|kite, ride_instr|train, look_obj|spoon
hold_obj|elephant, surf_instr|-, look_obj|elephant, ride_instr|boat
look_obj|giraffe, carry_obj|cell phone, lay_instr|chair, look_obj|cow
look_obj|fork, hold_obj|cake, carry_obj|sports ball, look_obj|skis
carry_obj|skateboard, point_instr|cell phone, look_obj|hot dog, eat_obj|banana
ski_instr|-, snowboard_instr|-, hold_obj|bird, lay_instr|dining table
hold_obj|dog, hold_obj|refrigerator, look_obj|refrigerator, look_obj|truck
look_obj|cup, sit_instr|toilet, drink_instr|-, hold_obj|tie
look_obj|tie, cut_obj|tie, look_obj|fire hydrant, point_instr|fire hydrant
lay_instr|bench, cut_obj|sheep, hold_obj|mouse, look_obj|mouse
look_obj|keyboard, cut_instr|fork, cut_obj|person, look_obj|bus
ride_instr|car, jump_instr|skis, look_obj|airplane, look_obj|banana
sit_instr|suitcase, carry_obj|frisbee, look_obj|handbag, eat_obj|broccoli
cut_obj|banana, hold_obj|sheep, cut_obj|sandwich, point_instr|person
look_obj|motorcycle, look_obj|backpack, hold_obj|bowl, point_instr|tie
hold_obj|orange, eat_obj|orange, look_obj|baseball bat, carry_obj|snowboard
cut_obj|donut, look_obj|tennis racket, eat_obj|carrot, cut_obj|apple
carry_obj|wine glass, point_instr|sandwich, point_instr|tv, carry_obj|clock
look_obj|toilet, point_instr|cow, look_obj|remote, point_instr|sheep
hold_obj|broccoli, hold_obj|bench, point_instr|kite, hold_obj|truck
carry_obj|cup, drink_instr|bowl, carry_obj|tennis racket, carry_obj|bottle
look_obj|apple, look_obj|chair, sit_instr|backpack, point_instr|dining table
hold_obj|hair drier, look_obj|bottle, point_instr|cake, point_instr|keyboard
point_instr|refrigerator, look_obj|clock, hold_obj|boat, cut_obj|bowl
point_instr|giraffe, look_obj|umbrella, hold_obj|keyboard, sit_instr|handbag
point_instr|hot dog, sit_instr|dining table, carry_obj|teddy bear, hold_obj|carrot
carry_obj|baseball bat, look_obj|car, ride_instr|bus, cut_obj|broccoli
look_obj|bird, carry_obj|book, look_obj|broccoli
"""
