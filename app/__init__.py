"""The todo service's Django project."""
