"""Package-level contracts: public names, the shared vocabulary, the error type."""

import data_contracts
from data_contracts import CLASS_NAMES, LABEL_FRAME_S, SPLITS, TARGET_CLASSES, ContractError


def test_every_public_name_is_importable_from_the_package():
    for name in data_contracts.__all__:
        assert hasattr(data_contracts, name), name


def test_class_names_are_the_13_starss23_classes():
    published = ["Female speech", "Male speech", "Clapping", "Telephone", "Laughter", "Domestic sounds",
                 "Walk/footsteps", "Door open/close", "Music", "Musical instrument", "Water tap", "Bell", "Knock"]
    assert CLASS_NAMES == dict(enumerate(published))


def test_label_frame_is_100_ms():
    assert LABEL_FRAME_S == 0.1


def test_vocabulary_of_splits_and_target_classes():
    assert SPLITS == ("generation", "evaluation")
    assert TARGET_CLASSES == ("speech", "instrument")


def test_contract_error_is_a_value_error():
    assert issubclass(ContractError, ValueError)
