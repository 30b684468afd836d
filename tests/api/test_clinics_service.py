from __future__ import annotations

import pytest

from api.errors import InvalidInput
from api.persistence import ClinicSession
from api.services.clinics import create_clinic
from schemas import Clinic


def test_a_clinic_is_created_and_the_session_scoped_to_it(engine):
    with ClinicSession(engine) as session:
        clinic = create_clinic(session, "  Harbour Counselling ")
        session.commit()
        assert session.clinic_id == clinic.id
        assert session.get(Clinic, clinic.id).name == "Harbour Counselling"


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_a_clinic_needs_a_sensible_name(engine, name):
    with ClinicSession(engine) as session, pytest.raises(InvalidInput) as raised:
        create_clinic(session, name)
    assert [(e.pointer, e.detail) for e in raised.value.errors] == [
        ("/name", "must be 1 to 200 characters")
    ]
