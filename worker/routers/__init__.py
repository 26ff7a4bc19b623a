"""One router per resource; :func:`worker.app.create_app` mounts them all."""
