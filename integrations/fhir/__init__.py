"""Tandem's FHIR R4 face: what each resource looks like, which searches exist, and how
errors read, independent of how rows are stored (that is `api.services.fhir`)."""

FHIR_JSON = "application/fhir+json"
