"""Tandem's clinical core: instruments, response validation and scoring.

Pure Python with no I/O beyond reading the instrument files that ship in this
package, and no imports from the rest of Tandem. Every surface (REST, FHIR,
portal, export) calls these functions; none has rules of its own.

    >>> from assessments import load_builtin, validate_response, score_response
    >>> balance = load_builtin("balance-assessment")
    >>> problems = validate_response(balance.definition, response)   # [] when valid
    >>> result = score_response(balance, response)                   # scales and flags
"""

from assessments.catalogue import (
    Instrument,
    InstrumentError,
    builtin_instruments,
    load_builtin,
    version_key,
)
from assessments.privacy import private_link_ids, redact_private
from assessments.questionnaire import QuestionnaireDefinition
from assessments.scoring import (
    Flag,
    ScaleScore,
    ScoredResponse,
    check_partial,
    raise_flags,
    score_response,
)
from assessments.sdc import CalculatedValue, SdcError, SdcResult, calculate_sdc, weight_of
from assessments.spec import ScoringSpec
from assessments.validation import WHOLE_STATUSES, InvalidResponse, Problem, validate_response

__all__ = [
    "WHOLE_STATUSES",
    "CalculatedValue",
    "Flag",
    "Instrument",
    "InstrumentError",
    "InvalidResponse",
    "Problem",
    "QuestionnaireDefinition",
    "ScaleScore",
    "ScoredResponse",
    "ScoringSpec",
    "SdcError",
    "SdcResult",
    "builtin_instruments",
    "calculate_sdc",
    "check_partial",
    "load_builtin",
    "private_link_ids",
    "raise_flags",
    "redact_private",
    "score_response",
    "validate_response",
    "version_key",
    "weight_of",
]
