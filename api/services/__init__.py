"""Service functions: the rules of each domain, called by every route and command.

A service takes a clinic-scoped session and plain values, raises domain errors
(`api.errors`), and never commits: the caller (one request, one command) does.
"""
