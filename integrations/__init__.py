"""The edges to other systems: FHIR mapping (fhir.resources), bulk export, webhooks.

Imports `assessments` and `schemas`; imported by `api`. Empty until the FHIR
and export issues land.
"""
