"""Package-level contracts: public names, the shared vocabulary, the error type."""

import data_contracts
from data_contracts import CLASS_NAMES, LABEL_FRAME_S, SPLITS, TARGET_CLASSES, ContractError


def test_every_public_name_is_importable_from_the_package():
    for name in data_contracts.__all__:
        assert hasattr(data_contracts, name), name


def test_class_names_are_the_13_starss23_classes():
    assert CLASS_NAMES == {
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


def test_label_frame_is_100_ms():
    assert LABEL_FRAME_S == 0.1


def test_vocabulary_of_splits_and_target_classes():
    assert SPLITS == ("generation", "evaluation")
    assert TARGET_CLASSES == ("speech", "instrument")


def test_contract_error_is_a_value_error():
    assert issubclass(ContractError, ValueError)
