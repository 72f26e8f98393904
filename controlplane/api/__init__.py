"""The REST API (FastAPI; OpenAPI at /docs). `app.create_app` assembles it from routers."""
