"""Tandem's application: settings, persistence, services, routes and the `tandem` command."""

__version__ = "0.1.0"
