"""The peer: the straightforward FastAPI service many would write for the same job.

It validates each QuestionnaireResponse with fhir.resources, stores
`model_dump_json()` through SQLModel, and returns it; a read loads the row
and goes through fhir.resources again. No Tandem code is used. The database
comes from PEER_DATABASE_URL.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from sqlmodel import Field, Session, SQLModel, create_engine

FHIR_JSON = "application/fhir+json"


class PeerResponse(SQLModel, table=True):
    __tablename__ = "peer_response"

    id: int | None = Field(default=None, primary_key=True)
    body: str


engine = create_engine(os.environ["PEER_DATABASE_URL"])
SQLModel.metadata.create_all(engine)
app = FastAPI()


@app.post("/peer/responses", status_code=201)
def create_response(payload: dict[str, Any]) -> Response:
    body = QuestionnaireResponse.model_validate(payload).model_dump_json()
    with Session(engine) as session:
        session.add(PeerResponse(body=body))
        session.commit()
    return Response(body, status_code=201, media_type=FHIR_JSON)


@app.get("/peer/responses/{response_id}")
def read_response(response_id: int) -> Response:
    with Session(engine) as session:
        row = session.get(PeerResponse, response_id)
    if row is None:
        raise HTTPException(404)
    return Response(
        QuestionnaireResponse.model_validate_json(row.body).model_dump_json(), media_type=FHIR_JSON
    )
