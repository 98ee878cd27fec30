"""Shared vocabulary: STARSS23 sound event classes, the annotation time grid, target classes and splits."""

# Duration of one annotation (label) frame in seconds: frame f covers [f * 0.1 s, (f + 1) * 0.1 s). Defined with the
# other time-base conversions in data_contracts.timebase, re-exported here as part of the shared vocabulary.
from data_contracts.timebase import LABEL_FRAME_S

__all__ = ["CLASS_NAMES", "LABEL_FRAME_S", "SPLITS", "TARGET_CLASSES"]

# STARSS23 class ids as published with the dataset; STARSS22 uses the same 13 ids.
CLASS_NAMES: dict[int, str] = {
    0: "Female speech",
    1: "Male speech",
    2: "Clapping",
    3: "Telephone",
    4: "Laughter",
    5: "Domestic sounds",
    6: "Walk/footsteps",
    7: "Door open/close",
    8: "Music",
    9: "Musical instrument",
    10: "Water tap",
    11: "Bell",
    12: "Knock",
}

# The recipe's classes of interest: each STARSS class it keeps maps to one of these.
TARGET_CLASSES = ("speech", "instrument")

# "generation" is the training split (STARSS development recordings), "evaluation" the test split.
SPLITS = ("generation", "evaluation")
