"""A minimal Django project for memsight's Python tests: one view leaks, one does not (see views.py)."""
