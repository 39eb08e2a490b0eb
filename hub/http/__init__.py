"""What the REST API (hub/api) and the dashboard (hub/web) share: the hub behind a request,
how errors map to statuses, reading bodies, and the views and downloads both layers serve.

Both build on this package and it imports neither of them (tests/hub/test_layers.py), so
neither layer reaches into the other.
"""
