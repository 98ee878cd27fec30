"""The one error type raised by every data contract check."""


class ContractError(ValueError):
    """A file, table or recipe breaks its contract.

    The message names where (file path or table name, and the line or row), which column or key, and the offending
    value, e.g. ``"meta.csv: line 12: azimuth_deg=200.0 out of range [-180, 180]"``. Subclassing ValueError lets
    callers that only know about bad values catch it without importing this package.
    """

    def __init__(self, message: str, reason: str = "contract_violation"):
        super().__init__(message)
        #: A short stable code for the kind of problem (e.g. "annotation_out_of_range"), used as a rejects reason.
        self.reason = reason
