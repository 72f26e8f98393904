"""The analyst dashboard's static files (served by controlplane/api/routers/ui.py)."""
